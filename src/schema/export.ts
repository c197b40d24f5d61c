/**
 * Exports (profiles or books): like deployments, `export(name)` and `exports(names)` make no upstream call
 * themselves; `executions` and `latestExecution` ask export/get_execution_details.
 */
import { builder } from '../builder.ts';
import {
  checkConfigurationNames,
  Execution,
  ExecutionState,
  type ExportExecutionSource,
  executionLocalId,
  findExecution,
  loadExportExecutions,
  parseExecutionLocalId,
} from './execution.ts';
import { executionsIn } from './execution-range.ts';
import { ExecutionStats, executionStats } from './execution-stats.ts';

/** EPMware sends the size as a number, a numeric string, or null when there is no file. */
export function fileSizeBytes(raw: number | string | null | undefined): number | null {
  if (raw == null) return null;
  const size = typeof raw === 'number' ? raw : raw.trim() === '' ? Number.NaN : Number(raw);
  return Number.isFinite(size) ? size : null;
}

export const ExportExecution = builder.node(builder.objectRef<ExportExecutionSource>('ExportExecution'), {
  description: 'One run of an export profile or book',
  interfaces: [Execution],
  isTypeOf: (source) => (source as { kind?: unknown }).kind === 'export',
  id: { resolve: executionLocalId, parse: parseExecutionLocalId },
  loadOne: async (ref, ctx) => {
    const found = await findExecution(ctx, 'export', ref);
    return found?.kind === 'export' ? found : null;
  },
  fields: (t) => ({
    outputFileName: t.string({ nullable: true, resolve: ({ row }) => row.outputFileName ?? null }),
    outputFileSizeBytes: t.float({
      nullable: true,
      description: 'Bytes (a Float: export files can pass 2^31)',
      resolve: ({ row }) => fileSizeBytes(row.outputFileSize),
    }),
  }),
});

export interface ExportSource {
  name: string;
}

export const Export = builder.objectRef<ExportSource>('Export').implement({
  description: 'An export profile or book, by name',
  fields: (t) => ({
    name: t.exposeString('name', { nullable: false }),
    executions: t.field({
      type: [ExportExecution],
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
      resolve: (exported, args, ctx) =>
        executionsIn(
          (latestOnly) => loadExportExecutions(ctx, exported.name, latestOnly),
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
      resolve: async (exported, args, ctx) =>
        executionStats(
          await executionsIn(
            (latestOnly) => loadExportExecutions(ctx, exported.name, latestOnly),
            false,
            args,
          ),
        ),
    }),
    latestExecution: t.field({
      type: ExportExecution,
      nullable: true,
      description: 'Its latest run; null when it never ran. NOT_FOUND for an unknown name.',
      resolve: async (exported, _args, ctx) => {
        const [latest] = await loadExportExecutions(ctx, exported.name, true);
        return latest ?? null;
      },
    }),
  }),
});

builder.queryFields((t) => ({
  export: t.field({
    type: Export,
    nullable: false,
    description: 'An export profile or book by name (no upstream call until a field needs one)',
    args: { name: t.arg.string({ required: true }) },
    resolve: (_root, { name }) => {
      checkConfigurationNames([name], 'export');
      return { name };
    },
  }),
  exports: t.field({
    type: [Export],
    nullable: false,
    description: 'Several exports, in the order named; their histories are fetched concurrently (bounded)',
    args: { names: t.arg.stringList({ required: true }) },
    resolve: (_root, { names }) => {
      checkConfigurationNames(names, 'export');
      return names.map((name) => ({ name }));
    },
  }),
}));
