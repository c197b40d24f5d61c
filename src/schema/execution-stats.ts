/**
 * Execution statistics over a configuration's history: counts by state, success rate and durations, computed in
 * the gateway from the same get_execution_details answer `executions` uses (one upstream call per name per request).
 */
import { builder } from '../builder.ts';
import {
  durationSeconds,
  Execution,
  type ExecutionSource,
  executionState,
  upstreamDate,
} from './execution.ts';

export interface ExecutionStatsValue {
  runs: number;
  succeeded: number;
  failed: number;
  running: number;
  cancelled: number;
  successRate: number | null;
  meanDurationSeconds: number | null;
  p50DurationSeconds: number | null;
  p95DurationSeconds: number | null;
  maxDurationSeconds: number | null;
  lastSuccess: ExecutionSource | null;
  lastFailure: ExecutionSource | null;
}

/** Nearest-rank percentile of ascending values: the smallest value with at least p % of the values at or below it. */
export function nearestRank(ascending: readonly number[], percent: number): number | null {
  if (ascending.length === 0) return null;
  const rank = Math.max(1, Math.ceil((percent / 100) * ascending.length));
  return ascending[rank - 1] ?? null;
}

export function executionStats(history: readonly ExecutionSource[]): ExecutionStatsValue {
  const count = { SUCCEEDED: 0, FAILED: 0, RUNNING: 0, CANCELLED: 0, UNKNOWN: 0 };
  const durations: number[] = [];
  let lastSuccess: ExecutionSource | null = null;
  let lastFailure: ExecutionSource | null = null;
  for (const source of history) {
    const state = executionState(source.row.statusMeaning);
    count[state]++;
    if (state === 'SUCCEEDED' && startsLater(source, lastSuccess)) lastSuccess = source;
    if (state === 'FAILED' && startsLater(source, lastFailure)) lastFailure = source;
    // A running execution has no duration yet (and a clock-based one would change with every request).
    const duration = state === 'RUNNING' ? null : durationSeconds(source.row);
    if (duration !== null) durations.push(duration);
  }
  durations.sort((a, b) => a - b);
  const decided = count.SUCCEEDED + count.FAILED;
  return {
    runs: history.length,
    succeeded: count.SUCCEEDED,
    failed: count.FAILED,
    running: count.RUNNING,
    cancelled: count.CANCELLED,
    successRate: decided === 0 ? null : count.SUCCEEDED / decided,
    meanDurationSeconds:
      durations.length === 0 ? null : durations.reduce((sum, d) => sum + d, 0) / durations.length,
    p50DurationSeconds: nearestRank(durations, 50),
    p95DurationSeconds: nearestRank(durations, 95),
    maxDurationSeconds: durations.at(-1) ?? null,
    lastSuccess,
    lastFailure,
  };
}

/** EPMware lists newest first, but "last" is decided by the start date so that order is not trusted blindly. */
function startsLater(candidate: ExecutionSource, current: ExecutionSource | null): boolean {
  if (!current) return true;
  const a = upstreamDate(candidate.row.startDate)?.getTime() ?? Number.NEGATIVE_INFINITY;
  const b = upstreamDate(current.row.startDate)?.getTime() ?? Number.NEGATIVE_INFINITY;
  return a > b;
}

export const ExecutionStats = builder.objectRef<ExecutionStatsValue>('ExecutionStats').implement({
  description:
    'Statistics over the executions started in a time range (all of them when no range is given). Durations ' +
    'cover every execution with both dates except RUNNING ones, which count in runs and running only.',
  fields: (t) => ({
    runs: t.exposeInt('runs', { nullable: false, description: 'Executions in the range, in every state' }),
    succeeded: t.exposeInt('succeeded', { nullable: false }),
    failed: t.exposeInt('failed', { nullable: false }),
    running: t.exposeInt('running', { nullable: false }),
    cancelled: t.exposeInt('cancelled', { nullable: false }),
    successRate: t.exposeFloat('successRate', {
      nullable: true,
      description:
        'succeeded / (succeeded + failed), 0..1; running, cancelled and unknown runs are left out. Null when ' +
        'no execution succeeded or failed.',
    }),
    meanDurationSeconds: t.exposeFloat('meanDurationSeconds', { nullable: true }),
    p50DurationSeconds: t.exposeFloat('p50DurationSeconds', {
      nullable: true,
      description: 'Median duration, nearest-rank: the ceil(0.5 n)-th shortest of the n durations',
    }),
    p95DurationSeconds: t.exposeFloat('p95DurationSeconds', {
      nullable: true,
      description: '95th percentile duration, nearest-rank: the ceil(0.95 n)-th shortest of the n durations',
    }),
    maxDurationSeconds: t.exposeFloat('maxDurationSeconds', { nullable: true }),
    lastSuccess: t.field({
      type: Execution,
      nullable: true,
      upstream: 'none',
      description: 'The SUCCEEDED execution that started last, if any',
      resolve: (stats) => stats.lastSuccess,
    }),
    lastFailure: t.field({
      type: Execution,
      nullable: true,
      upstream: 'none',
      description: 'The FAILED execution that started last, if any',
      resolve: (stats) => stats.lastFailure,
    }),
  }),
});
