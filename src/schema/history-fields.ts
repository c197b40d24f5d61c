/**
 * The object type deployments and exports share as named configurations: a name, and the history fields
 * (`executions`, `stats`, `latestExecution`) over one configuration's get_execution_details. Both kinds answer them
 * the same way, so they are written once; each kind's file says which execution type, which history and which words.
 */
import type { ObjectRef } from '@pothos/core';
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { type ExecutionKind, type ExecutionSource, ExecutionState, historyCost } from './execution.ts';
import { executionsIn, readsLatestOnly } from './execution-range.ts';
import { ExecutionStats, executionStats } from './execution-stats.ts';

type Types = typeof builder.$inferSchemaTypes;

/** A configuration is only its name until a field asks EPMware about it. */
export interface ConfigurationSource {
  name: string;
}

/** One kind's history: newest first, NOT_FOUND for an unknown name (execution.ts). */
export type LoadHistory<S extends ExecutionSource> = (
  ctx: Context,
  name: string,
  latestOnly: boolean,
) => Promise<S[]>;

/**
 * A configuration type (Deployment, Export): its name and the history fields over runs that are `executionType`s,
 * read from `kind`'s history.
 * S ties the type to its history at the call site; inside, the fields see any ExecutionSource (Pothos cannot
 * resolve a field's nullability for a generic shape).
 */
export function configurationType<S extends ExecutionSource>(
  name: string,
  description: string,
  executionType: ObjectRef<Types, S>,
  kind: ExecutionKind,
  loadKind: LoadHistory<S>,
): ObjectRef<Types, ConfigurationSource> {
  const execution: ObjectRef<Types, ExecutionSource> = executionType;
  const loadHistory: LoadHistory<ExecutionSource> = loadKind;
  return builder.objectRef<ConfigurationSource>(name).implement({
    description,
    fields: (t) => ({
      name: t.exposeString('name', { nullable: false }),
      executions: t.field({
        type: [execution],
        nullable: true,
        description:
          'Its runs, newest first. since (inclusive) and until (exclusive) bound startedAt, state keeps one state; ' +
          'latestOnly keeps only the newest of those. since after until is BAD_USER_INPUT, before any upstream ' +
          'call. NOT_FOUND for an unknown name.',
        args: {
          latestOnly: t.arg.boolean({ defaultValue: false }),
          since: t.arg({ type: 'DateTime' }),
          until: t.arg({ type: 'DateTime' }),
          state: t.arg({ type: ExecutionState }),
        },
        upstream: historyCost(kind, (args) => readsLatestOnly(args.latestOnly === true, args)),
        resolve: (configuration, args, ctx) =>
          executionsIn(
            (latestOnly) => loadHistory(ctx, configuration.name, latestOnly),
            args.latestOnly ?? false,
            args,
          ),
      }),
      stats: t.field({
        type: ExecutionStats,
        nullable: true,
        description:
          'Statistics over its runs that started in [since, until) (all runs without a range), from the same ' +
          'history executions uses. since after until is BAD_USER_INPUT. NOT_FOUND for an unknown name.',
        args: { since: t.arg({ type: 'DateTime' }), until: t.arg({ type: 'DateTime' }) },
        upstream: historyCost(kind, () => false),
        resolve: async (configuration, args, ctx) =>
          executionStats(
            await executionsIn((latestOnly) => loadHistory(ctx, configuration.name, latestOnly), false, args),
          ),
      }),
      latestExecution: t.field({
        type: execution,
        nullable: true,
        description: 'Its latest run; null when it never ran. NOT_FOUND for an unknown name.',
        upstream: historyCost(kind, () => true),
        resolve: async (configuration, _args, ctx) => {
          const [latest] = await loadHistory(ctx, configuration.name, true);
          return latest ?? null;
        },
      }),
    }),
  });
}
