/**
 * Deployments: `deployment(name)` and `deployments(names)` make no upstream call themselves; `executions` and
 * `latestExecution` ask get_execution_details, so an unknown name is NOT_FOUND on those fields alone and the
 * sibling deployments keep their data.
 */
import { builder } from '../builder.ts';
import {
  checkConfigurationNames,
  configurationsCost,
  type DeploymentExecutionSource,
  Execution,
  executionLoadCost,
  executionLocalId,
  findExecution,
  loadDeploymentExecutions,
  parseExecutionLocalId,
} from './execution.ts';
import { configurationType } from './history-fields.ts';

export const DeploymentExecution = builder.node(
  builder.objectRef<DeploymentExecutionSource>('DeploymentExecution'),
  {
    description: 'One run of a deployment',
    interfaces: [Execution],
    isTypeOf: (source) => (source as { kind?: unknown }).kind === 'deployment',
    id: { resolve: executionLocalId, parse: parseExecutionLocalId },
    upstreamLoad: executionLoadCost('deployment'),
    loadOne: async (ref, ctx) => {
      const found = await findExecution(ctx, 'deployment', ref);
      return found?.kind === 'deployment' ? found : null;
    },
    fields: () => ({}),
  },
);

export const Deployment = configurationType(
  'Deployment',
  'A deployment configuration, by name',
  DeploymentExecution,
  'deployment',
  loadDeploymentExecutions,
);

builder.queryFields((t) => ({
  deployment: t.field({
    type: Deployment,
    nullable: false,
    description: 'A deployment configuration by name (no upstream call until a field needs one)',
    args: { name: t.arg.string({ required: true }) },
    upstream: configurationsCost('deployment', 'name'),
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
    upstream: configurationsCost('deployment', 'names'),
    resolve: (_root, { names }) => {
      checkConfigurationNames(names, 'deployment');
      return names.map((name) => ({ name }));
    },
  }),
}));
