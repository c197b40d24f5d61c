/** `groups`: every group EPMware lists (one `GET /security/groups` per request), filtered, ordered and paged here. */
import { builder } from '../builder.ts';
import { type Memberships, nameKey } from '../directory.ts';
import type { EpmGroup } from '../upstream/types.ts';
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
import { Group, type GroupSource, isEnabled } from './security-sources.ts';

export interface GroupFilterShape extends Combinators<GroupFilterShape> {
  search?: string | null;
  name?: StringFilterShape | null;
  description?: StringFilterShape | null;
  enabled?: boolean | null;
  hasMember?: string | null;
}

const GroupFilterRef = builder.inputRef<GroupFilterShape>('GroupFilter');
export const GroupFilter = GroupFilterRef.implement({
  description: 'Conditions on groups; every condition given must hold',
  fields: (t) => ({
    search: t.string({ description: 'Case-insensitive; every word must occur in the name or description' }),
    name: t.field({ type: StringFilter }),
    description: t.field({ type: StringFilter }),
    enabled: t.boolean(),
    hasMember: t.string({ description: 'Has this user as a member (user name, case-insensitive)' }),
    ...combinatorFields(t, GroupFilterRef),
  }),
});

export const GroupOrderField = builder.enumType('GroupOrderField', { values: ['NAME'] as const });

export const GroupOrder = builder.inputType('GroupOrder', {
  description: 'Case-insensitive',
  fields: (t) => ({
    field: t.field({ type: GroupOrderField, required: true, defaultValue: 'NAME' }),
    direction: t.field({ type: OrderDirection, required: true, defaultValue: 'ASC' }),
  }),
});

function groupOrderingFor(direction: 'ASC' | 'DESC'): Ordering<EpmGroup> {
  return {
    tag: `group:NAME:${direction}`,
    descending: direction === 'DESC',
    position: (group) => [comparable(group.name), nameKey(group.name)],
  };
}

/** One Ordering object per direction, so sortedOnce finds the order it kept beside the list. */
const groupOrderings = { ASC: groupOrderingFor('ASC'), DESC: groupOrderingFor('DESC') };
const groupOrdering = (direction: 'ASC' | 'DESC') => groupOrderings[direction];

const MEMBERS_PATHS = [
  ['nodes', 'users'],
  ['nodes', 'userCount'],
  ['edges', 'node', 'users'],
  ['edges', 'node', 'userCount'],
] as const;

function matchesOwn(
  group: EpmGroup,
  filter: GroupFilterShape,
  memberships: Memberships | undefined,
): boolean {
  if (filter.search != null && !matchesSearch(filter.search, [group.name, group.description])) return false;
  if (filter.name && !matchesString(group.name, filter.name)) return false;
  if (filter.description && !matchesString(group.description, filter.description)) return false;
  if (filter.enabled != null && isEnabled(group) !== filter.enabled) return false;
  if (filter.hasMember != null) {
    const members = memberships?.usersByGroup.get(nameKey(group.name)) ?? [];
    if (!members.includes(nameKey(filter.hasMember))) return false;
  }
  return true;
}

const groupList: DirectoryList<GroupSource, EpmGroup, GroupFilterShape, typeof GroupOrder.$inferInput> = {
  node: Group,
  filter: GroupFilter,
  orderBy: GroupOrder,
  ordering: (orderBy) => groupOrdering(orderBy?.direction ?? 'ASC'),
  list: (directory) => directory.groups(),
  listRead: () => 'groups',
  readsMemberships: (filter) => filter.hasMember != null,
  membershipPaths: MEMBERS_PATHS,
  matchesOwn,
};

builder.queryField('groups', (t) => directoryConnection(t, 'groups', groupList));
