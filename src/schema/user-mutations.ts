/**
 * SSO user writes. Each returns the user as EPMware now lists them: after the write, whatever this credential had
 * cached under /security/ (the upstream cache, this request's directory) is dropped and the user is read back, so
 * the next read, later in the same request or in the next one, shows the change.
 */
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import type { FieldCost } from '../cost/field-cost.ts';
import { GatewayError, UpstreamError } from '../errors.ts';
import type { EpmUser, SsoUserFields } from '../upstream/types.ts';
import { email, nameList, optionalText, requiredText } from '../validation.ts';
import { afterWrite, readOnce, usersListRead } from './security-sources.ts';
import { findUser, User } from './user.ts';

/**
 * A user write's cost: `writes(args)` calls (never retried; null when the arguments are refused, which costs
 * nothing), then the users list read back in a scope of its own (the write dropped the request's reads), where the
 * answer's selection runs.
 */
export function userWriteCost(writes: (args: Readonly<Record<string, unknown>>) => number | null): FieldCost {
  return (field) => {
    const { args, tally } = field;
    const count = writes(args);
    if (count === null) return [];
    const place = afterWrite(tally);
    tally.each(count);
    readOnce(tally, place.scope, usersListRead());
    return field.select(place);
  };
}

const oneWrite = userWriteCost(() => 1);

/**
 * After a write: nothing this request read about users and groups may be served again. (The upstream client has
 * already dropped the credential's cached /security/ reads: every write does, once, before it answers.)
 */
export function forgetSecurityReads(ctx: Context): void {
  ctx.directory.forget();
}

/** The user as EPMware lists them after a write that succeeded. */
async function readBack(ctx: Context, userName: string): Promise<EpmUser> {
  const user = await findUser(ctx, userName);
  if (!user) {
    throw new UpstreamError(
      'UPSTREAM_ERROR',
      `EPMware accepted the change but does not list user "${userName}"`,
      {
        endpoint: 'security/users',
      },
    );
  }
  return user;
}

/** Runs one write for one user, then answers the user as it now stands. */
async function writeThenRead(
  ctx: Context,
  userName: string,
  write: () => Promise<unknown>,
): Promise<EpmUser> {
  try {
    await write();
  } finally {
    // Even a failed write may have been applied.
    forgetSecurityReads(ctx);
  }
  return readBack(ctx, userName);
}

const CreateSsoUserInput = builder.inputType('CreateSsoUserInput', {
  fields: (t) => ({
    userName: t.string({ required: true }),
    firstName: t.string({ required: true }),
    lastName: t.string(),
    email: t.string({ required: true }),
    description: t.string(),
  }),
});

const UpdateSsoUserInput = builder.inputType('UpdateSsoUserInput', {
  description: 'Fields to change; those left out keep their value',
  fields: (t) => ({
    firstName: t.string(),
    lastName: t.string(),
    email: t.string(),
    description: t.string(),
  }),
});

function groupNamesArg(values: readonly string[]): string[] {
  return nameList(values, 'groupNames');
}

builder.mutationFields((t) => ({
  createSsoUser: t.field({
    type: User,
    nullable: false,
    description: 'Creates an SSO user (security/users/sso/create); CONFLICT when the user name is taken.',
    args: { input: t.arg({ type: CreateSsoUserInput, required: true }) },
    upstream: oneWrite,
    resolve: (_root, { input }, ctx) => {
      const userName = requiredText(input.userName, 'input.userName');
      const fields = {
        userName,
        firstName: requiredText(input.firstName, 'input.firstName'),
        lastName: input.lastName ?? undefined,
        email: email(input.email, 'input.email'),
        description: input.description ?? undefined,
      };
      return writeThenRead(ctx, userName, () => ctx.epmware().createSsoUser(fields));
    },
  }),
  updateSsoUser: t.field({
    type: User,
    nullable: false,
    description: 'Changes an SSO user (security/users/sso/update); NOT_FOUND for an unknown user.',
    args: {
      userName: t.arg.string({ required: true }),
      input: t.arg({ type: UpdateSsoUserInput, required: true }),
    },
    upstream: oneWrite,
    resolve: (_root, args, ctx) => {
      const userName = requiredText(args.userName, 'userName');
      const { input } = args;
      const fields: SsoUserFields = {
        firstName: optionalText(input.firstName, 'input.firstName'),
        lastName: input.lastName ?? undefined,
        email: input.email == null ? undefined : email(input.email, 'input.email'),
        description: input.description ?? undefined,
      };
      if (Object.values(fields).every((value) => value === undefined)) {
        throw new GatewayError('BAD_USER_INPUT', 'input must change at least one field');
      }
      return writeThenRead(ctx, userName, () => ctx.epmware().updateSsoUser(userName, fields));
    },
  }),
  assignUserToGroups: t.field({
    type: User,
    nullable: false,
    description:
      'Adds the user to the groups (security/users/sso/assign_groups); NOT_FOUND for an unknown user or group.',
    args: {
      userName: t.arg.string({ required: true }),
      groupNames: t.arg.stringList({ required: true }),
    },
    upstream: oneWrite,
    resolve: (_root, args, ctx) => {
      const userName = requiredText(args.userName, 'userName');
      const groupNames = groupNamesArg(args.groupNames);
      return writeThenRead(ctx, userName, () => ctx.epmware().assignGroups(userName, groupNames));
    },
  }),
  removeUserFromGroups: t.field({
    type: User,
    nullable: false,
    description: 'Removes the user from the groups (security/users/sso/unassign_groups).',
    args: {
      userName: t.arg.string({ required: true }),
      groupNames: t.arg.stringList({ required: true }),
    },
    upstream: oneWrite,
    resolve: (_root, args, ctx) => {
      const userName = requiredText(args.userName, 'userName');
      const groupNames = groupNamesArg(args.groupNames);
      return writeThenRead(ctx, userName, () => ctx.epmware().unassignGroups(userName, groupNames));
    },
  }),
}));

// enableUser / disableUser: the same write with the documented PATCH for each direction.
for (const [field, enabled] of [
  ['enableUser', true],
  ['disableUser', false],
] as const) {
  builder.mutationField(field, (t) =>
    t.field({
      type: User,
      nullable: false,
      description: `${enabled ? 'Enables' : 'Disables'} a user (security/users/sso/${enabled ? 'enable' : 'disable'}); NOT_FOUND for an unknown user.`,
      args: { userName: t.arg.string({ required: true }) },
      upstream: oneWrite,
      resolve: (_root, args, ctx) => {
        const userName = requiredText(args.userName, 'userName');
        return writeThenRead(ctx, userName, () => ctx.epmware().setUserEnabled(userName, enabled));
      },
    }),
  );
}
