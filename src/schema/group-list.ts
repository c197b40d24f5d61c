/** `groups`: every group EPMware lists (one `GET /security/groups` per request), filtered, ordered and paged here. */
import { builder } from '../builder.ts';
import { type Memberships, nameKey } from '../directory.ts';
import type { EpmGroup } from '../upstream/types.ts';
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
import { checkPageArgs, DEFAULT_PAGE_SIZE, type Ordering, paginate, sortedOnce } from './pagination.ts';
import { Group, isEnabled } from './security-sources.ts';
import { selects } from './selection.ts';

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
    and: t.field({ type: [GroupFilterRef], description: 'Every one of these holds' }),
    or: t.field({ type: [GroupFilterRef], description: 'At least one of these holds' }),
    not: t.field({ type: GroupFilterRef, description: 'This does not hold' }),
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

builder.queryField('groups', (t) =>
  t.connection(
    {
      type: Group,
      nullable: false,
      nodeNullable: false,
      edgesNullable: { list: false, items: false },
      description: 'Groups EPMware lists: `first` 100 by default, at most 1000 a page',
      args: {
        filter: t.arg({ type: GroupFilter }),
        orderBy: t.arg({ type: GroupOrder }),
      },
      resolve: async (_root, args, ctx, info) => {
        const ordering = groupOrdering(args.orderBy?.direction ?? 'ASC');
        checkPageArgs(args, ordering.tag);
        const filter = args.filter;
        const needsMemberships = someFilter(filter, (f) => f.hasMember != null);
        const many = (args.first ?? args.last ?? DEFAULT_PAGE_SIZE) > 1;
        if (!needsMemberships && many && MEMBERS_PATHS.some((path) => selects(info, path))) {
          // In flight alongside the groups list (see users in user-list.ts).
          void ctx.directory.memberships();
        }
        const [groups, memberships] = await Promise.all([
          ctx.directory.groups(),
          needsMemberships ? ctx.directory.memberships() : undefined,
        ]);
        const matching = filterItems(sortedOnce(groups.list, ordering), filter, (entry, f) =>
          matchesOwn(entry.item, f, memberships),
        );
        return paginate(matching, args, ordering);
      },
    },
    {
      name: 'GroupConnection',
      description: 'A page of groups',
      fields: (c) => ({
        totalCount: c.int({
          nullable: false,
          description: 'Groups matching the filter, over all pages',
          resolve: (connection) => connection.totalCount,
        }),
      }),
    },
    { name: 'GroupEdge' },
  ),
);
