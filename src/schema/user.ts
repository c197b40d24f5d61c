/**
 * The User type and `user(userName)`. Rows come from one `GET /security/users` per request (the directory), a
 * user's groups from the batched membership loader (see SecurityDirectory.groupsOf).
 */
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { nameKey } from '../directory.ts';
import type { EpmUser } from '../upstream/types.ts';
import {
  fromUserRow,
  Group,
  isEnabled,
  isMention,
  membershipCost,
  mention,
  User,
  type UserSource,
  userKey,
  usersListCost,
  usersLoadCost,
} from './security-sources.ts';

export { Group, User, type UserSource };

export const UserType = builder.enumType('UserType', { values: ['NATIVE', 'SAML'] as const });
export type UserTypeValue = 'NATIVE' | 'SAML';

/** EPMware's userType, when it is one the schema knows. */
export function userTypeOf(row: EpmUser | undefined): UserTypeValue | null {
  const value = row?.userType?.trim().toUpperCase();
  return value === 'NATIVE' || value === 'SAML' ? value : null;
}

/**
 * The user as EPMware has them now, or null. Reads through the request's directory, so after a mutation has
 * called `ctx.directory.forget()` this sees the change.
 */
export async function findUser(ctx: Context, userName: string): Promise<EpmUser | null> {
  return (await ctx.directory.users()).byKey.get(nameKey(userName)) ?? null;
}

builder.node(User, {
  description:
    'An EPMware user. A user EPMware lists as a group member but not in its users list shows its name only.',
  id: {
    description: 'A Relay global id; stable across the spellings EPMware uses for the same user name',
    resolve: (user) => userKey(user),
  },
  upstreamLoad: usersLoadCost,
  loadMany: async (keys, ctx) => {
    const users = await ctx.directory.users();
    return keys.map((key) => users.byKey.get(nameKey(key)) ?? null);
  },
  fields: (t) => ({
    userName: t.string({
      nullable: false,
      // A mention's row is in the users list.
      upstream: usersListCost,
      description: 'As the users list spells it',
      resolve: (user, _args, ctx) =>
        isMention(user) ? fromUserRow(ctx, user, (row) => row?.userName ?? user.mentionedAs) : user.userName,
    }),
    firstName: t.string({
      nullable: true,
      upstream: usersListCost,
      resolve: (user, _args, ctx) => fromUserRow(ctx, user, firstNameOf),
    }),
    lastName: t.string({
      nullable: true,
      upstream: usersListCost,
      resolve: (user, _args, ctx) => fromUserRow(ctx, user, lastNameOf),
    }),
    email: t.string({
      nullable: true,
      upstream: usersListCost,
      resolve: (user, _args, ctx) => fromUserRow(ctx, user, emailOf),
    }),
    description: t.string({
      nullable: true,
      upstream: usersListCost,
      resolve: (user, _args, ctx) => fromUserRow(ctx, user, descriptionOf),
    }),
    enabled: t.boolean({
      nullable: false,
      upstream: usersListCost,
      description: 'EPMware enable = "Y" (false for a member missing from the users list)',
      resolve: (user, _args, ctx) => fromUserRow(ctx, user, isEnabled),
    }),
    userType: t.field({
      type: UserType,
      nullable: true,
      upstream: usersListCost,
      resolve: (user, _args, ctx) => fromUserRow(ctx, user, userTypeOf),
    }),
    groups: t.field({
      type: [Group],
      nullable: false,
      upstream: membershipCost('groups-of-user'),
      description: "The user's groups. Many users' groups cost one upstream call together.",
      resolve: (user, _args, ctx) =>
        ctx.directory.groupsOfNow(userKey(user)) ??
        ctx.directory
          .groupsOf(isMention(user) ? user.mentionedAs : user.userName)
          .then((names) => names.map(mention)),
    }),
  }),
});

// Module-level readers, so a field costs no closure per user.
const firstNameOf = (row: EpmUser | undefined) => row?.firstName ?? null;
const lastNameOf = (row: EpmUser | undefined) => row?.lastName ?? null;
const emailOf = (row: EpmUser | undefined) => row?.email ?? null;
const descriptionOf = (row: EpmUser | undefined) => row?.description ?? null;

builder.queryField('user', (t) =>
  t.field({
    type: User,
    nullable: true,
    description: 'A user by name, case-insensitively; null when EPMware has no such user',
    args: { userName: t.arg.string({ required: true }) },
    upstream: usersListCost,
    resolve: (_root, args, ctx) => findUser(ctx, args.userName),
  }),
);
