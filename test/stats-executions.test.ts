/**
 * Execution statistics and time ranges on deployments and exports: stats against values computed here, by hand,
 * from the simulator's own histories (every state, a running execution, an empty history), the since/until/state
 * filters, BAD_USER_INPUT before any upstream call, and one history call per name shared by every field.
 */
import { describe, expect, it } from 'vitest';
import { executionState } from '../src/schema/execution.ts';
import type { UpstreamDeploymentExecution, UpstreamExportExecution } from '../src/simulator/index.ts';
import { stackForFile } from './harness.ts';

// Simulated runs take ten minutes, so the fixture's running deployment stays RUNNING for the whole file.
const stack = stackForFile({ simulator: { taskDurationMs: 600_000 }, env: { CACHE_TTL_MS: '0' } });

const historyCalls = () => stack.sim.requests({ path: '/service/api/*' });

type Row = UpstreamDeploymentExecution | UpstreamExportExecution;

/** The contract's state mapping, written out again independently of the gateway's. */
function stateOf(statusMeaning: string): string {
  const status = statusMeaning.toLowerCase();
  if (status === 'success') return 'SUCCEEDED';
  if (status === 'error' || status === 'failed') return 'FAILED';
  if (status === 'running' || status === 'in progress') return 'RUNNING';
  if (status === 'cancelled' || status === 'canceled') return 'CANCELLED';
  return 'UNKNOWN';
}

/** The statistics as the schema describes them, computed the plain way from the rows. */
function expectedStats(rows: Row[]) {
  const states = rows.map((row) => stateOf(row.statusMeaning));
  const count = (state: string) => states.filter((s) => s === state).length;
  const durations = rows
    .filter((row, i) => states[i] !== 'RUNNING' && row.startDate && row.endDate)
    .map((row) => (Date.parse(row.endDate as string) - Date.parse(row.startDate as string)) / 1000)
    .sort((a, b) => a - b);
  const rank = (p: number) =>
    durations.length ? durations[Math.ceil((p / 100) * durations.length) - 1] : null;
  const newest = (state: string) => {
    const matching = rows.filter((_, i) => states[i] === state);
    matching.sort((a, b) => Date.parse(b.startDate as string) - Date.parse(a.startDate as string));
    return matching[0] ? { executionId: matching[0].id, state } : null;
  };
  const decided = count('SUCCEEDED') + count('FAILED');
  return {
    runs: rows.length,
    succeeded: count('SUCCEEDED'),
    failed: count('FAILED'),
    running: count('RUNNING'),
    cancelled: count('CANCELLED'),
    successRate: decided ? count('SUCCEEDED') / decided : null,
    meanDurationSeconds: durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length : null,
    p50DurationSeconds: rank(50),
    p95DurationSeconds: rank(95),
    maxDurationSeconds: durations.length ? durations[durations.length - 1] : null,
    lastSuccess: newest('SUCCEEDED'),
    lastFailure: newest('FAILED'),
  };
}

const STATS = `runs succeeded failed running cancelled successRate meanDurationSeconds p50DurationSeconds
  p95DurationSeconds maxDurationSeconds lastSuccess { executionId state } lastFailure { executionId state }`;

interface StatsAnswer {
  name: string;
  stats: ReturnType<typeof expectedStats> | null;
}

describe('stats', () => {
  it('matches hand-computed statistics for every deployment, with one history call per name', async () => {
    const names = stack.sim.fixtures.deploymentNames;
    const result = await stack.graphql<{
      deployments: Array<StatsAnswer & { executions: Array<{ executionId: string }> }>;
    }>(
      `query($n: [String!]!) { deployments(names: $n) { name stats { ${STATS} } executions { executionId } } }`,
      {
        n: names,
      },
    );
    expect(result.errors).toBeUndefined();
    const state = stack.sim.state();
    const seen = new Set<string>();
    for (const deployment of result.data?.deployments ?? []) {
      const rows = state.deploymentExecutions(deployment.name);
      expect(deployment.stats, deployment.name).toEqual(expectedStats(rows));
      expect(deployment.executions.map((e) => e.executionId)).toEqual(rows.map((row) => row.id));
      for (const row of rows) seen.add(stateOf(row.statusMeaning));
    }
    // The histories exercise every state the statistics count, and a running execution without an end.
    expect(seen).toEqual(new Set(['SUCCEEDED', 'FAILED', 'RUNNING', 'CANCELLED']));
    const running = state.deploymentExecutions('PROD_WEEKLY')[0];
    expect(running).toMatchObject({ statusMeaning: 'Running', endDate: null });
    // stats and executions share one whole-history call per name.
    expect(historyCalls()).toHaveLength(names.length);
    expect(historyCalls().every((call) => call.query.latest_only === 'N')).toBe(true);
  });

  it('counts a running execution in runs and running but not in the durations', async () => {
    const rows = stack.sim.state().deploymentExecutions('PROD_WEEKLY');
    const result = await stack.graphql<{ deployment: StatsAnswer }>(
      `{ deployment(name: "PROD_WEEKLY") { name stats { ${STATS} } } }`,
    );
    const stats = result.data?.deployment.stats;
    expect(stats?.running).toBeGreaterThanOrEqual(1);
    expect(stats?.runs).toBe(rows.length);
    const finished = rows.filter((row) => row.endDate !== null).length;
    expect(finished).toBeLessThan(rows.length);
    expect(stats).toEqual(expectedStats(rows));
  });

  it('answers zeros and nulls for a deployment that never ran', async () => {
    const name = stack.sim.fixtures.neverRunDeploymentName;
    const result = await stack.graphql<{ deployment: StatsAnswer & { executions: unknown[] } }>(
      `query($n: String!) { deployment(name: $n) { name executions { executionId } stats { ${STATS} } } }`,
      { n: name },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.deployment).toEqual({
      name,
      executions: [],
      stats: {
        runs: 0,
        succeeded: 0,
        failed: 0,
        running: 0,
        cancelled: 0,
        successRate: null,
        meanDurationSeconds: null,
        p50DurationSeconds: null,
        p95DurationSeconds: null,
        maxDurationSeconds: null,
        lastSuccess: null,
        lastFailure: null,
      },
    });
    expect(historyCalls()).toHaveLength(1);
  });

  it('computes export statistics too; an unknown name is NOT_FOUND on stats alone', async () => {
    const names = [...stack.sim.fixtures.exportNames, ...stack.sim.fixtures.exportBookNames];
    const result = await stack.graphql<{ exports: StatsAnswer[] }>(
      `query($n: [String!]!) { exports(names: $n) { name stats { ${STATS} } } }`,
      { n: [...names, 'NO_SUCH_EXPORT'] },
    );
    const state = stack.sim.state();
    for (const exported of (result.data?.exports ?? []).slice(0, -1)) {
      expect(exported.stats, exported.name).toEqual(expectedStats(state.exportExecutions(exported.name)));
    }
    expect(result.data?.exports.at(-1)).toEqual({ name: 'NO_SUCH_EXPORT', stats: null });
    expect(result.errors?.map((error) => [error.path, error.extensions?.code])).toEqual([
      [['exports', names.length, 'stats'], 'NOT_FOUND'],
    ]);
  });
});

describe('time ranges and states', () => {
  it('keeps runs with since <= startedAt < until, for executions and stats alike, from one history call', async () => {
    const name = 'ASOALL';
    const rows = stack.sim.state().deploymentExecutions(name);
    expect(rows.length).toBeGreaterThanOrEqual(4);
    // Bounds exactly on two runs' start dates: the one at `since` is in, the one at `until` is out.
    const byStart = [...rows].sort(
      (a, b) => Date.parse(a.startDate as string) - Date.parse(b.startDate as string),
    );
    const since = new Date(byStart[1]?.startDate as string).toISOString();
    const until = new Date(byStart[byStart.length - 1]?.startDate as string).toISOString();
    const inRange = rows.filter(
      (row) =>
        Date.parse(row.startDate as string) >= Date.parse(since) &&
        Date.parse(row.startDate as string) < Date.parse(until),
    );
    expect(inRange.length).toBe(rows.length - 2);

    const result = await stack.graphql<{
      deployment: {
        executions: Array<{ executionId: string }>;
        latest: Array<{ executionId: string }>;
        failed: Array<{ executionId: string; state: string }>;
        stats: ReturnType<typeof expectedStats>;
        all: { runs: number };
      };
    }>(
      `query($n: String!, $since: DateTime, $until: DateTime) { deployment(name: $n) {
        executions(since: $since, until: $until) { executionId }
        latest: executions(since: $since, until: $until, latestOnly: true) { executionId }
        failed: executions(state: FAILED) { executionId state }
        stats(since: $since, until: $until) { ${STATS} }
        all: stats { runs } } }`,
      { n: name, since, until },
    );
    expect(result.errors).toBeUndefined();
    const deployment = result.data?.deployment;
    expect(deployment?.executions.map((e) => e.executionId)).toEqual(inRange.map((row) => row.id));
    expect(deployment?.latest).toEqual([{ executionId: inRange[0]?.id }]);
    expect(deployment?.failed).toEqual(
      rows
        .filter((row) => stateOf(row.statusMeaning) === 'FAILED')
        .map((row) => ({ executionId: row.id, state: 'FAILED' })),
    );
    expect(deployment?.stats).toEqual(expectedStats(inRange));
    expect(deployment?.all.runs).toBe(rows.length);
    expect(historyCalls()).toHaveLength(1);
  });

  it('answers CANCELLED for Cancelled and Canceled', async () => {
    const result = await stack.graphql<{ deployment: { executions: Array<{ status: string }> } }>(
      `{ deployment(name: "PLANNING_DEV") { executions(state: CANCELLED) { status state } } }`,
    );
    const cancelled = stack.sim
      .state()
      .deploymentExecutions('PLANNING_DEV')
      .filter((row) => /^cancel+ed$/i.test(row.statusMeaning));
    expect(cancelled.length).toBeGreaterThan(0);
    expect(result.data?.deployment.executions).toEqual(
      cancelled.map((row) => ({ status: row.statusMeaning, state: 'CANCELLED' })),
    );
    // The simulator spells it one way; EPMware's American spelling maps the same.
    expect(['Canceled', 'CANCELED', 'canceled '].map(executionState)).toEqual([
      'CANCELLED',
      'CANCELLED',
      'CANCELLED',
    ]);
  });

  it('refuses since after until with BAD_USER_INPUT before any upstream call', async () => {
    const result = await stack.graphql<{ deployments: Array<Record<string, unknown>> }>(
      `{ deployments(names: ["ASOALL", "HFM_PROD"]) {
          name
          executions(since: "2025-06-02T00:00:00Z", until: "2025-06-01T00:00:00Z") { executionId }
          stats(since: "2025-06-02T00:00:00Z", until: "2025-06-01T23:59:59Z") { runs } } }`,
    );
    expect(result.data?.deployments).toEqual([
      { name: 'ASOALL', executions: null, stats: null },
      { name: 'HFM_PROD', executions: null, stats: null },
    ]);
    expect(result.errors).toHaveLength(4);
    for (const error of result.errors ?? []) {
      expect(error.extensions?.code).toBe('BAD_USER_INPUT');
      expect(error.message).toMatch(/since .* is after until/);
    }
    const notADate = await stack.graphql(
      `{ deployment(name: "ASOALL") { stats(since: "yesterday") { runs } } }`,
    );
    expect(notADate.errors?.[0]?.extensions?.code).toMatch(/BAD_USER_INPUT|GRAPHQL_VALIDATION_FAILED/);
    expect(historyCalls()).toHaveLength(0);
  });

  it('treats since = until as an empty range, not an error', async () => {
    const result = await stack.graphql<{ deployment: { stats: { runs: number }; executions: unknown[] } }>(
      `{ deployment(name: "ASOALL") {
          stats(since: "2025-06-01T00:00:00Z", until: "2025-06-01T00:00:00Z") { runs }
          executions(since: "2025-06-01T00:00:00Z", until: "2025-06-01T00:00:00Z") { executionId } } }`,
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.deployment).toEqual({ stats: { runs: 0 }, executions: [] });
  });
});

describe('the upstream-call estimate (MAX_UPSTREAM_CALLS_PER_OPERATION, 50)', () => {
  const names = (count: number) => Array.from({ length: count }, (_, i) => `D${i}`);

  it('prices stats as one whole-history call per name, shared with filtered executions', async () => {
    // 30 names: stats and executions(since) share 30 calls; adding latestExecution (latest_only=Y) makes 60.
    const shared = await stack.graphql(
      `query($n: [String!]!) { deployments(names: $n) {
        stats { runs } executions(since: "2025-01-01T00:00:00Z", latestOnly: true) { executionId } } }`,
      { n: names(30) },
    );
    expect(shared.status).toBe(200);
    expect(historyCalls()).toHaveLength(30);
    stack.sim.clearRequests();
    const over = await stack.graphql(
      `query($n: [String!]!) { deployments(names: $n) { stats { runs } latestExecution { executionId } } }`,
      { n: names(30) },
    );
    expect(over.status).toBe(400);
    expect(over.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(over.errors?.[0]?.message).toContain('could cause 60 upstream calls');
    expect(historyCalls()).toHaveLength(0);
  });
});
