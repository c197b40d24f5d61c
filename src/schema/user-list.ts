/**
 * `users`: every user EPMware lists (one `GET /security/users` per request; `filter.userType` is passed upstream,
 * which filters it itself), filtered, ordered and paged here.
 */
import { builder } from '../builder.ts';
import { type Memberships, nameKey } from '../directory.ts';
import type { EpmUser } from '../upstream/types.ts';
import { type DirectoryList, directoryConnection } from './directory-list.ts';
import {
  type Combinators,
  combinatorFields,
  comparable,
  matchesSearch,
  matchesString,
  OrderDirection,
  StringFilter,
  type StringFilterShape,
} from './filters.ts';
import type { Ordering } from './pagination.ts';
import { isEnabled, type UserSource, usersListRead } from './security-sources.ts';
import { User, UserType, type UserTypeValue, userTypeOf } from './user.ts';

export interface UserFilterShape extends Combinators<UserFilterShape> {
  search?: string | null;
  userType?: UserTypeValue | null;
  enabled?: boolean | null;
  inGroup?: string | null;
  userName?: StringFilterShape | null;
  firstName?: StringFilterShape | null;
  lastName?: StringFilterShape | null;
  email?: StringFilterShape | null;
}

const UserFilterRef = builder.inputRef<UserFilterShape>('UserFilter');
export const UserFilter = UserFilterRef.implement({
  description: 'Conditions on users; every condition given must hold',
  fields: (t) => ({
    search: t.string({
      description: 'Case-insensitive; every word must occur in the user name, first name, last name or email',
    }),
    userType: t.field({ type: UserType, description: 'Passed to EPMware (at the top level of the filter)' }),
    enabled: t.boolean(),
    inGroup: t.string({ description: 'Member of this group (name, case-insensitive)' }),
    userName: t.field({ type: StringFilter }),
    firstName: t.field({ type: StringFilter }),
    lastName: t.field({ type: StringFilter }),
    email: t.field({ type: StringFilter }),
    ...combinatorFields(t, UserFilterRef),
  }),
});

export const UserOrderField = builder.enumType('UserOrderField', {
  values: ['USER_NAME', 'FIRST_NAME', 'LAST_NAME', 'EMAIL'] as const,
});
type UserOrderFieldValue = 'USER_NAME' | 'FIRST_NAME' | 'LAST_NAME' | 'EMAIL';

export const UserOrder = builder.inputType('UserOrder', {
  description: 'Case-insensitive; users without a value come last; ties are broken by user name',
  fields: (t) => ({
    field: t.field({ type: UserOrderField, required: true, defaultValue: 'USER_NAME' }),
    direction: t.field({ type: OrderDirection, required: true, defaultValue: 'ASC' }),
  }),
});

const sortValue: Record<UserOrderFieldValue, (user: EpmUser) => string | null> = {
  USER_NAME: (user) => nameKey(user.userName),
  FIRST_NAME: (user) => comparable(user.firstName),
  LAST_NAME: (user) => comparable(user.lastName),
  EMAIL: (user) => comparable(user.email),
};

/** One Ordering object per orderBy, so sortedOnce finds the order it kept beside the list. */
const orderings = new Map<string, Ordering<EpmUser>>();

function userOrdering(field: UserOrderFieldValue, direction: 'ASC' | 'DESC'): Ordering<EpmUser> {
  const tag = `user:${field}:${direction}`;
  let ordering = orderings.get(tag);
  if (!ordering) {
    const value = sortValue[field];
    ordering = {
      tag,
      descending: direction === 'DESC',
      position: (user) => [value(user), nameKey(user.userName)],
    };
    orderings.set(tag, ordering);
  }
  return ordering;
}

function matchesOwn(user: EpmUser, filter: UserFilterShape, memberships: Memberships | undefined): boolean {
  if (
    filter.search != null &&
    !matchesSearch(filter.search, [user.userName, user.firstName, user.lastName, user.email])
  ) {
    return false;
  }
  if (filter.userType != null && userTypeOf(user) !== filter.userType) return false;
  if (filter.enabled != null && isEnabled(user) !== filter.enabled) return false;
  if (filter.inGroup != null) {
    const groups = memberships?.groupsByUser.get(nameKey(user.userName)) ?? [];
    if (!groups.includes(nameKey(filter.inGroup))) return false;
  }
  if (filter.userName && !matchesString(user.userName, filter.userName)) return false;
  if (filter.firstName && !matchesString(user.firstName, filter.firstName)) return false;
  if (filter.lastName && !matchesString(user.lastName, filter.lastName)) return false;
  if (filter.email && !matchesString(user.email, filter.email)) return false;
  return true;
}

const GROUPS_PATHS = [
  ['nodes', 'groups'],
  ['edges', 'node', 'groups'],
] as const;

const userList: DirectoryList<UserSource, EpmUser, UserFilterShape, typeof UserOrder.$inferInput> = {
  node: User,
  filter: UserFilter,
  orderBy: UserOrder,
  ordering: (orderBy) => userOrdering(orderBy?.field ?? 'USER_NAME', orderBy?.direction ?? 'ASC'),
  // Only the top-level userType goes to EPMware, which filters by it; matchesOwn still checks every one.
  list: (directory, filter) => directory.users(filter?.userType ?? undefined),
  listRead: (filter) => usersListRead(filter?.userType),
  readsMemberships: (filter) => filter.inGroup != null,
  membershipPaths: GROUPS_PATHS,
  matchesOwn,
};

builder.queryField('users', (t) => directoryConnection(t, 'users', userList));
