/**
 * Execution histories of deployments and exports (`get_execution_details`), and the Execution interface their
 * rows share. A configuration's history is fetched once per request per (name, latestOnly); many configurations
 * fan out concurrently, at most FAN_OUT_LIMIT at a time.
 */
import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import { builder } from '../builder.ts';
import { mapBounded, requestLimiter } from '../concurrency.ts';
import type { Context } from '../context.ts';
import {
  accepts,
  deeper,
  type FieldCost,
  listAsSent,
  type NodeLoadCost,
  parsedBy,
} from '../cost/field-cost.ts';
import { GatewayError, InputError } from '../errors.ts';
import type { EpmDeploymentExecution, EpmExportExecution } from '../upstream/types.ts';

export type ExecutionKind = 'deployment' | 'export';

export interface DeploymentExecutionSource {
  kind: 'deployment';
  /** The configuration name the history was asked for. */
  configName: string;
  row: EpmDeploymentExecution;
}

export interface ExportExecutionSource {
  kind: 'export';
  configName: string;
  row: EpmExportExecution;
}

export type ExecutionSource = DeploymentExecutionSource | ExportExecutionSource;

interface HistoryQuery {
  kind: ExecutionKind;
  name: string;
  latestOnly: boolean;
}

/** The history loader's key: one upstream call per key per request (and one estimated, see historyCost). */
function historyKey({ kind, name, latestOnly }: HistoryQuery): string {
  return JSON.stringify([kind, name, latestOnly]);
}

const historyLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<HistoryQuery, ExecutionSource[], string>(
      (queries) =>
        mapBounded(
          queries,
          async ({ kind, name, latestOnly }): Promise<ExecutionSource[]> => {
            if (kind === 'deployment') {
              const rows = await ctx.epmware().deploymentExecutions(name, latestOnly);
              return rows.map((row) => ({ kind, configName: name, row }));
            }
            const rows = await ctx.epmware().exportExecutions(name, latestOnly);
            return rows.map((row) => ({ kind, configName: name, row }));
          },
          requestLimiter(ctx),
        ),
      { cacheKeyFn: historyKey },
    ),
);

/** A configuration's executions, newest first as EPMware sends them; NOT_FOUND for an unknown name. */
export function loadExecutions(
  ctx: Context,
  kind: ExecutionKind,
  name: string,
  latestOnly: boolean,
): Promise<ExecutionSource[]> {
  return historyLoader(ctx).load({ kind, name, latestOnly });
}

export async function loadDeploymentExecutions(
  ctx: Context,
  name: string,
  latestOnly: boolean,
): Promise<DeploymentExecutionSource[]> {
  const history = await loadExecutions(ctx, 'deployment', name, latestOnly);
  return history.filter((source): source is DeploymentExecutionSource => source.kind === 'deployment');
}

export async function loadExportExecutions(
  ctx: Context,
  name: string,
  latestOnly: boolean,
): Promise<ExportExecutionSource[]> {
  const history = await loadExecutions(ctx, 'export', name, latestOnly);
  return history.filter((source): source is ExportExecutionSource => source.kind === 'export');
}

/** Configuration names come from clients: checked before any upstream call. */
export const MAX_CONFIGURATION_NAMES = 100;
export function checkConfigurationNames(names: readonly string[], what: string): void {
  if (names.length > MAX_CONFIGURATION_NAMES) {
    throw new InputError(`At most ${MAX_CONFIGURATION_NAMES} ${what} names at once, got ${names.length}`);
  }
  for (const name of names) {
    if (name.trim() === '') throw new InputError(`A ${what} name must not be blank`);
  }
}

/**
 * deployment(name) / deployments(names), export(name) / exports(names): no call of their own; the names go down to
 * the history fields (historyCost). Names checkConfigurationNames refuses cost nothing: the field fails first.
 */
export function configurationsCost(kind: ExecutionKind, argument: 'name' | 'names'): FieldCost {
  return (field) => {
    const { args, place } = field;
    const names = listAsSent(args[argument]);
    if (!accepts(() => checkConfigurationNames(names, kind))) return [];
    return field.select(deeper(place, { names, objects: names.length }));
  };
}

/**
 * A history field (executions, latestExecution, stats): one call per configuration name and latestOnly, however
 * many fields or aliases ask (the history loader's key). `latestOnly` says which history the field reads.
 */
export function historyCost(
  kind: ExecutionKind,
  latestOnly: (args: Readonly<Record<string, unknown>>) => boolean,
): FieldCost {
  return (field) => {
    const { args, place, tally } = field;
    const latest = latestOnly(args);
    for (const name of new Set(place.names ?? [])) tally.once(historyKey({ kind, name, latestOnly: latest }));
    return field.select(deeper(place));
  };
}

/** node(id) of an execution: its configuration's whole history (findExecution); a malformed id costs nothing. */
export function executionLoadCost(kind: ExecutionKind): NodeLoadCost {
  return ({ localIds, tally }) => {
    for (const localId of localIds) {
      const ref = parsedBy(() => parseExecutionLocalId(localId));
      if (ref) tally.once(historyKey({ kind, name: ref.name, latestOnly: false }));
    }
  };
}

export const EXECUTION_STATES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'UNKNOWN'] as const;
export type ExecutionStateValue = (typeof EXECUTION_STATES)[number];
export const ExecutionState = builder.enumType('ExecutionState', { values: EXECUTION_STATES });

/**
 * statusMeaning is free text in varied spellings (Success, SUCCESS, In Progress, IN_PROGRESS...): compared
 * case-insensitively with spaces, underscores and hyphens alike. Success -> SUCCEEDED; Error, Failed -> FAILED;
 * Running, In Progress -> RUNNING; Cancelled, Canceled -> CANCELLED; anything else (Queued, missing) -> UNKNOWN.
 */
export function executionState(statusMeaning: string | null | undefined): ExecutionStateValue {
  const status = (statusMeaning ?? '')
    .trim()
    .toLowerCase()
    .replace(/[\s_-]+/g, ' ');
  if (status === 'success') return 'SUCCEEDED';
  if (status === 'error' || status === 'failed') return 'FAILED';
  if (status === 'running' || status === 'in progress') return 'RUNNING';
  if (status === 'cancelled' || status === 'canceled') return 'CANCELLED';
  return 'UNKNOWN';
}

/** EPMware dates are ISO-8601; one without a zone is read as UTC. Anything unreadable is null. */
export function upstreamDate(value: string | null | undefined): Date | null {
  if (!value?.trim()) return null;
  let text = value.trim();
  if (/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text)) text = `${text.replace(' ', 'T')}Z`;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** Seconds from start to end; null until the execution has ended (or when a date is missing). */
export function durationSeconds(row: { startDate?: string | null; endDate?: string | null }): number | null {
  const start = upstreamDate(row.startDate);
  const end = upstreamDate(row.endDate);
  return start && end ? (end.getTime() - start.getTime()) / 1000 : null;
}

/** The local part of an execution's global id: the configuration name and EPMware's execution id. */
export function executionLocalId(source: ExecutionSource): string {
  return JSON.stringify([configurationName(source), String(source.row.id)]);
}

export function parseExecutionLocalId(id: string): { name: string; executionId: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(id);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || !parsed.every((part) => typeof part === 'string')) {
    throw new InputError('Invalid execution id');
  }
  return { name: parsed[0] as string, executionId: parsed[1] as string };
}

/** The execution a global id names, or null when EPMware no longer has it (or never had the configuration). */
export async function findExecution(
  ctx: Context,
  kind: ExecutionKind,
  ref: { name: string; executionId: string },
): Promise<ExecutionSource | null> {
  try {
    const history = await loadExecutions(ctx, kind, ref.name, false);
    return history.find((source) => String(source.row.id) === ref.executionId) ?? null;
  } catch (error) {
    if (error instanceof GatewayError && error.code === 'NOT_FOUND') return null;
    throw error;
  }
}

function configurationName(source: ExecutionSource): string {
  const upstreamName = source.kind === 'deployment' ? source.row.deploymentName : source.row.exportName;
  return upstreamName?.trim() ? upstreamName : source.configName;
}

export const Execution = builder.interfaceRef<ExecutionSource>('Execution').implement({
  description: 'One run of a deployment or export, as get_execution_details reports it',
  interfaces: [builder.nodeInterfaceRef()],
  resolveType: (source) => (source.kind === 'deployment' ? 'DeploymentExecution' : 'ExportExecution'),
  fields: (t) => ({
    executionId: t.id({
      nullable: false,
      upstream: 'none',
      description: "EPMware's own execution id",
      resolve: (source) => String(source.row.id),
    }),
    name: t.string({
      nullable: false,
      upstream: 'none',
      description: 'The configuration name',
      resolve: configurationName,
    }),
    startedAt: t.field({
      type: 'DateTime',
      nullable: true,
      upstream: 'none',
      resolve: ({ row }) => upstreamDate(row.startDate),
    }),
    endedAt: t.field({
      type: 'DateTime',
      nullable: true,
      upstream: 'none',
      resolve: ({ row }) => upstreamDate(row.endDate),
    }),
    durationSeconds: t.float({
      nullable: true,
      upstream: 'none',
      resolve: ({ row }) => durationSeconds(row),
    }),
    status: t.string({
      nullable: true,
      upstream: 'none',
      description: "EPMware's statusMeaning, verbatim",
      resolve: ({ row }) => row.statusMeaning ?? null,
    }),
    state: t.field({
      type: ExecutionState,
      nullable: false,
      upstream: 'none',
      description:
        'From statusMeaning, case-insensitively: Success -> SUCCEEDED; Error, Failed -> FAILED; Running, ' +
        'In Progress -> RUNNING; Cancelled, Canceled -> CANCELLED; anything else -> UNKNOWN',
      resolve: ({ row }) => executionState(row.statusMeaning),
    }),
  }),
});
