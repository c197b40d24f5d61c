/**
 * The Group type and `group(name)`. Rows come from one `GET /security/groups` per request; members from the
 * batched membership loader (see SecurityDirectory.membersOf), so many groups' users cost one upstream call.
 */
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { nameKey } from '../directory.ts';
import type { EpmGroup } from '../upstream/types.ts';
import {
  fromGroupRow,
  Group,
  type GroupSource,
  groupKey,
  groupName,
  groupsListCost,
  groupsLoadCost,
  isEnabled,
  membershipCost,
  mention,
  User,
} from './security-sources.ts';

export { Group, type GroupSource };

/** The group as EPMware lists it now, or null (case-insensitive). */
export async function findGroup(ctx: Context, name: string): Promise<EpmGroup | null> {
  return (await ctx.directory.groups()).byKey.get(nameKey(name)) ?? null;
}

builder.node(Group, {
  description: 'An EPMware security group',
  id: {
    description: 'A Relay global id; stable across the spellings EPMware uses for the same group name',
    resolve: (group) => groupKey(group),
  },
  upstreamLoad: groupsLoadCost,
  loadMany: async (keys, ctx) => {
    const groups = await ctx.directory.groups();
    return keys.map((key) => groups.byKey.get(nameKey(key)) ?? null);
  },
  fields: (t) => ({
    // Spelled as the endpoint that named the group spells it; EPMware spells group names alike everywhere, so
    // this costs no lookup in the groups list.
    name: t.string({ nullable: false, upstream: 'none', resolve: (group) => groupName(group) }),
    description: t.string({
      nullable: true,
      upstream: groupsListCost,
      resolve: (group, _args, ctx) => fromGroupRow(ctx, group, descriptionOf),
    }),
    enabled: t.boolean({
      nullable: false,
      upstream: groupsListCost,
      description: 'EPMware enable = "Y" (false for a group missing from the groups list)',
      resolve: (group, _args, ctx) => fromGroupRow(ctx, group, isEnabled),
    }),
    users: t.field({
      type: [User],
      nullable: false,
      upstream: membershipCost('members-of-group'),
      description: "The group's members. Many groups' members cost one upstream call together.",
      resolve: (group, _args, ctx) =>
        ctx.directory.membersOfNow(groupKey(group)) ??
        ctx.directory.membersOf(groupName(group)).then((names) => names.map(mention)),
    }),
    userCount: t.int({
      nullable: false,
      upstream: membershipCost('members-of-group'),
      description: 'How many members `users` lists',
      resolve: (group, _args, ctx) =>
        ctx.directory.membersOfNow(groupKey(group))?.length ??
        ctx.directory.membersOf(groupName(group)).then((names) => names.length),
    }),
  }),
});

const descriptionOf = (row: EpmGroup | undefined) => row?.description ?? null;

builder.queryField('group', (t) =>
  t.field({
    type: Group,
    nullable: true,
    description: 'A group by name, case-insensitively; null when EPMware has no such group',
    args: { name: t.arg.string({ required: true }) },
    upstream: groupsListCost,
    resolve: (_root, args, ctx) => findGroup(ctx, args.name),
  }),
);
