/**
 * Deployments: `deployment(name)` and `deployments(names)` make no upstream call themselves; `executions` and
 * `latestExecution` ask get_execution_details, so an unknown name is NOT_FOUND on those fields alone and the
 * sibling deployments keep their data.
 */
import { builder } from '../builder.ts';
import {
  checkConfigurationNames,
  type DeploymentExecutionSource,
  Execution,
  ExecutionState,
  executionLocalId,
  findExecution,
  loadDeploymentExecutions,
  parseExecutionLocalId,
} from './execution.ts';
import { executionsIn } from './execution-range.ts';
import { ExecutionStats, executionStats } from './execution-stats.ts';

export const DeploymentExecution = builder.node(
  builder.objectRef<DeploymentExecutionSource>('DeploymentExecution'),
  {
    description: 'One run of a deployment',
    interfaces: [Execution],
    isTypeOf: (source) => (source as { kind?: unknown }).kind === 'deployment',
    id: { resolve: executionLocalId, parse: parseExecutionLocalId },
    loadOne: async (ref, ctx) => {
      const found = await findExecution(ctx, 'deployment', ref);
      return found?.kind === 'deployment' ? found : null;
    },
    fields: () => ({}),
  },
);

export interface DeploymentSource {
  name: string;
}

export const Deployment = builder.objectRef<DeploymentSource>('Deployment').implement({
  description: 'A deployment configuration, by name',
  fields: (t) => ({
    name: t.exposeString('name', { nullable: false }),
    executions: t.field({
      type: [DeploymentExecution],
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
      resolve: (deployment, args, ctx) =>
        executionsIn(
          (latestOnly) => loadDeploymentExecutions(ctx, deployment.name, latestOnly),
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
      resolve: async (deployment, args, ctx) =>
        executionStats(
          await executionsIn(
            (latestOnly) => loadDeploymentExecutions(ctx, deployment.name, latestOnly),
            false,
            args,
          ),
        ),
    }),
    latestExecution: t.field({
      type: DeploymentExecution,
      nullable: true,
      description: 'Its latest run; null when it never ran. NOT_FOUND for an unknown name.',
      resolve: async (deployment, _args, ctx) => {
        const [latest] = await loadDeploymentExecutions(ctx, deployment.name, true);
        return latest ?? null;
      },
    }),
  }),
});

builder.queryFields((t) => ({
  deployment: t.field({
    type: Deployment,
    nullable: false,
    description: 'A deployment configuration by name (no upstream call until a field needs one)',
    args: { name: t.arg.string({ required: true }) },
    resolve: (_root, { name }) => {
      checkConfigurationNames([name], 'deployment');
      return { name };
    },
  }),
  deployments: t.field({
    type: [Deployment],
    nullable: false,
    description:
      'Several deployments, in the order named; their histories are fetched concurrently (bounded)',
    args: { names: t.arg.stringList({ required: true }) },
    resolve: (_root, { names }) => {
      checkConfigurationNames(names, 'deployment');
      return names.map((name) => ({ name }));
    },
  }),
}));
