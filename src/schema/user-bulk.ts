/**
 * setUsersEnabled: enable or disable many users in one request, as exto360's activate-users/deactivate-users do.
 * EPMware has one PATCH per user, so this runs them a few at a time (the per-credential budget queues the rest),
 * and answers one result per name, in the order given: one user's failure stops no other.
 */
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { listAsSent, parsedBy } from '../cost/field-cost.ts';
import { nameKey } from '../directory.ts';
import { findGatewayError } from '../errors.ts';
import type { EpmUser } from '../upstream/types.ts';
import { nameList } from '../validation.ts';
import { User } from './user.ts';
import { forgetSecurityReads, userWriteCost } from './user-mutations.ts';

/** Writes in flight at once: enough to hide latency, few enough to leave budget for everyone else. */
export const BULK_CONCURRENCY = 4;

interface ItemError {
  code: string;
  message: string;
}

interface UserEnabledResultShape {
  userName: string;
  ok: boolean;
  user: EpmUser | null;
  error: ItemError | null;
}

const ItemErrorRef = builder.objectRef<ItemError>('ItemError').implement({
  description:
    "Why one item of a bulk mutation failed: the same code and message a single mutation's error carries",
  fields: (t) => ({
    code: t.exposeString('code', { nullable: false }),
    message: t.exposeString('message', { nullable: false }),
  }),
});

const UserEnabledResult = builder.objectRef<UserEnabledResultShape>('UserEnabledResult').implement({
  fields: (t) => ({
    userName: t.exposeString('userName', { nullable: false, description: 'As given' }),
    ok: t.exposeBoolean('ok', { nullable: false }),
    user: t.field({
      type: User,
      nullable: true,
      description:
        'The user as it now stands; null when the write failed (or the user could not be read back)',
      upstream: 'none',
      resolve: (result) => result.user,
    }),
    error: t.field({
      type: ItemErrorRef,
      nullable: true,
      upstream: 'none',
      resolve: (result) => result.error,
    }),
  }),
});

/** Maps items with at most `limit` promises pending; results keep the items' order. */
async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function itemError(error: unknown): ItemError {
  const known = findGatewayError(error);
  // Anything else is a bug of ours, masked as Yoga masks a field's unexpected error.
  return known
    ? { code: known.code, message: known.message }
    : { code: 'UPSTREAM_ERROR', message: 'Unexpected error' };
}

/** One write per distinct user (names compared as setUsersEnabled compares them), then the read-back. */
const setUsersEnabledCost = userWriteCost((args) => {
  const names = parsedBy(() => nameList(listAsSent(args.userNames), 'userNames'));
  return names && new Set(names.map(nameKey)).size;
});

async function setUsersEnabled(
  ctx: Context,
  userNames: string[],
  enabled: boolean,
): Promise<UserEnabledResultShape[]> {
  // One upstream write per user, even when a name is given twice (or in two spellings).
  const epmware = ctx.epmware();
  const keys = [...new Set(userNames.map(nameKey))];
  const firstSpelling = new Map<string, string>();
  for (const name of userNames) if (!firstSpelling.has(nameKey(name))) firstSpelling.set(nameKey(name), name);
  const outcomes = await mapConcurrently(keys, BULK_CONCURRENCY, async (key) => {
    try {
      await epmware.setUserEnabled(firstSpelling.get(key) ?? key, enabled);
      return { key, error: null };
    } catch (error) {
      return { key, error: itemError(error) };
    }
  });
  forgetSecurityReads(ctx);
  const errorByKey = new Map(outcomes.map((outcome) => [outcome.key, outcome.error]));
  const users = outcomes.some((outcome) => !outcome.error)
    ? await readBackAll(ctx)
    : new Map<string, EpmUser>();
  return userNames.map((userName) => {
    const error = errorByKey.get(nameKey(userName)) ?? null;
    return { userName, ok: !error, user: error ? null : (users.get(nameKey(userName)) ?? null), error };
  });
}

/** The users as they now stand; when that read fails, the writes' outcomes still stand (with `user: null`). */
async function readBackAll(ctx: Context): Promise<ReadonlyMap<string, EpmUser>> {
  try {
    return (await ctx.directory.users()).byKey;
  } catch {
    return new Map();
  }
}

builder.mutationField('setUsersEnabled', (t) =>
  t.field({
    type: [UserEnabledResult],
    nullable: { list: false, items: false },
    description:
      'Enables or disables many users (at most 1000): one result per name, in order; one failure stops no other.',
    args: {
      userNames: t.arg.stringList({ required: true }),
      enabled: t.arg.boolean({ required: true }),
    },
    upstream: setUsersEnabledCost,
    resolve: (_root, args, ctx) => setUsersEnabled(ctx, nameList(args.userNames, 'userNames'), args.enabled),
  }),
);
