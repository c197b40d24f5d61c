/**
 * `users`: every user EPMware lists (one `GET /security/users` per request; `filter.userType` is passed upstream,
 * which filters it itself), filtered, ordered and paged here.
 */
import { builder } from '../builder.ts';
import { type Memberships, nameKey } from '../directory.ts';
import type { EpmUser } from '../upstream/types.ts';
import {
  type Combinators,
  comparable,
  filterItems,
  matchesSearch,
  matchesString,
  OrderDirection,
  StringFilter,
  type StringFilterShape,
  someFilter,
} from './filters.ts';
import { checkPageArgs, type Ordering, paginate } from './pagination.ts';
import { isEnabled } from './security-sources.ts';
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
    and: t.field({ type: [UserFilterRef], description: 'Every one of these holds' }),
    or: t.field({ type: [UserFilterRef], description: 'At least one of these holds' }),
    not: t.field({ type: UserFilterRef, description: 'This does not hold' }),
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

function userOrdering(field: UserOrderFieldValue, direction: 'ASC' | 'DESC'): Ordering<EpmUser> {
  const value = sortValue[field];
  return {
    tag: `user:${field}:${direction}`,
    descending: direction === 'DESC',
    position: (user) => [value(user), nameKey(user.userName)],
  };
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

builder.queryField('users', (t) =>
  t.connection(
    {
      type: User,
      nullable: false,
      nodeNullable: false,
      edgesNullable: { list: false, items: false },
      description: 'Users EPMware lists: `first` 100 by default, at most 1000 a page',
      args: {
        filter: t.arg({ type: UserFilter }),
        orderBy: t.arg({ type: UserOrder }),
      },
      resolve: async (_root, args, ctx) => {
        const ordering = userOrdering(args.orderBy?.field ?? 'USER_NAME', args.orderBy?.direction ?? 'ASC');
        checkPageArgs(args, ordering.tag);
        const filter = args.filter;
        const needsMemberships = someFilter(filter, (f) => f.inGroup != null);
        const [users, memberships] = await Promise.all([
          ctx.directory.users(filter?.userType ?? undefined),
          needsMemberships ? ctx.directory.memberships() : undefined,
        ]);
        const matching = filterItems(users.list, filter, (item, f) => matchesOwn(item, f, memberships));
        return paginate(matching, args, ordering);
      },
    },
    {
      name: 'UserConnection',
      description: 'A page of users',
      fields: (c) => ({
        totalCount: c.int({
          nullable: false,
          description: 'Users matching the filter, over all pages',
          resolve: (connection) => connection.totalCount,
        }),
      }),
    },
    { name: 'UserEdge' },
  ),
);
