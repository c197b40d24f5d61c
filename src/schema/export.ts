/**
 * Exports (profiles or books): like deployments, `export(name)` and `exports(names)` make no upstream call
 * themselves; `executions` and `latestExecution` ask export/get_execution_details.
 */
import { builder } from '../builder.ts';
import {
  checkConfigurationNames,
  configurationsCost,
  Execution,
  type ExportExecutionSource,
  executionLoadCost,
  executionLocalId,
  findExecution,
  loadExportExecutions,
  parseExecutionLocalId,
} from './execution.ts';
import { configurationType } from './history-fields.ts';

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
  upstreamLoad: executionLoadCost('export'),
  loadOne: async (ref, ctx) => {
    const found = await findExecution(ctx, 'export', ref);
    return found?.kind === 'export' ? found : null;
  },
  fields: (t) => ({
    outputFileName: t.string({
      nullable: true,
      upstream: 'none',
      resolve: ({ row }) => row.outputFileName ?? null,
    }),
    outputFileSizeBytes: t.float({
      nullable: true,
      upstream: 'none',
      description: 'Bytes (a Float: export files can pass 2^31)',
      resolve: ({ row }) => fileSizeBytes(row.outputFileSize),
    }),
  }),
});

export const Export = configurationType(
  'Export',
  'An export profile or book, by name',
  ExportExecution,
  'export',
  loadExportExecutions,
);

builder.queryFields((t) => ({
  export: t.field({
    type: Export,
    nullable: false,
    description: 'An export profile or book by name (no upstream call until a field needs one)',
    args: { name: t.arg.string({ required: true }) },
    upstream: configurationsCost('export', 'name'),
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
    upstream: configurationsCost('export', 'names'),
    resolve: (_root, { names }) => {
      checkConfigurationNames(names, 'export');
      return names.map((name) => ({ name }));
    },
  }),
}));
