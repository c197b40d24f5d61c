/**
 * The one test harness: a simulator and a gateway on port 0 over loopback, a GraphQL caller, and teardown (or one
 * stack for a whole file, with vitest's hooks). Tests assert on what the gateway answered AND on what the
 * simulator received (sim.requests()). Also the budget checks that the in-process and the Redis-shared budget
 * share. The bench scripts import it too: vitest's hooks are only called by the functions that use them.
 */
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { type Config, loadConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import type { LogDestination } from '../src/observability/logger.ts';
import { type Simulator, type SimulatorOptions, startSimulator } from '../src/simulator/index.ts';
import type { TaskWatcherTuning } from '../src/tasks/task-watcher.ts';
import type { UpstreamTuning } from '../src/upstream/client.ts';
import type { Epmware } from '../src/upstream/epmware.ts';

export interface Stack {
  sim: Simulator;
  gateway: Gateway;
  /** http://127.0.0.1:PORT/graphql */
  url: URL;
  /** http://127.0.0.1:PORT */
  origin: string;
  token: string;
  graphql<TData = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    options?: { token?: string | null; headers?: Record<string, string> },
  ): Promise<GraphQLResponse<TData>>;
  close(): Promise<void>;
}

export interface GraphQLResponse<TData> {
  status: number;
  data?: TData | null;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }>;
}

export interface StackOptions {
  simulator?: SimulatorOptions;
  /** Environment variables as the contract names them, e.g. { CACHE_TTL_MS: '0' }. */
  env?: Record<string, string>;
  demoToken?: boolean;
  /** Upstream client knobs (shorter budget windows, breaker cool-downs) for resilience tests. */
  upstream?: UpstreamTuning;
  /** Captures the gateway's JSON log lines (default: stdout). */
  logStream?: LogDestination;
  /** Task poller knobs (a lower poller cap for the flood tests). */
  tasks?: TaskWatcherTuning;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const sim = await startSimulator({ rateLimits: 'relaxed', ...options.simulator });
  const config: Config = {
    // The simulator's limits are relaxed for tests, so the gateway's budget is too: only the budget tests
    // (which set UPSTREAM_RATE_LIMIT_PER_MIN themselves) should ever wait on it.
    ...loadConfig({ LOG_LEVEL: 'error', UPSTREAM_RATE_LIMIT_PER_MIN: '1000000', ...options.env }),
    epmwareUrl: new URL(sim.url),
  };
  const gateway = createGateway(config, {
    ...(options.demoToken ? { demoToken: sim.tokens.primary } : {}),
    upstream: options.upstream,
    logStream: options.logStream,
    tasks: options.tasks,
  });
  const url = await gateway.listen(0, '127.0.0.1');
  const token = sim.tokens.primary;
  return {
    sim,
    gateway,
    url,
    origin: url.origin,
    token,
    async graphql(query, variables, callOptions = {}) {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'application/json',
      };
      const useToken = callOptions.token === undefined ? token : callOptions.token;
      if (useToken) headers.authorization = `Token ${useToken}`;
      const response = await request(url, {
        method: 'POST',
        headers: { ...headers, ...callOptions.headers },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.body.json()) as Omit<GraphQLResponse<never>, 'status'>;
      return { status: response.statusCode, ...body } as never;
    },
    async close() {
      await gateway.close();
      await sim.close();
    },
  };
}

/**
 * For files that count the upstream calls of each request: no per-credential GET cache, so every read reaches
 * the simulator, and a budget far above what a test asks for.
 */
export const COUNTED_UPSTREAM: StackOptions = {
  env: { CACHE_TTL_MS: '0', UPSTREAM_RATE_LIMIT_PER_MIN: '100000' },
};

/**
 * One stack for a whole test file: started in beforeAll, closed in afterAll, and before each test the simulator's
 * faults and request log are cleared, so a test sees only its own upstream calls. Call it at the top level of the
 * file; the stack it returns may be used from beforeAll on.
 */
export function stackForFile(options: StackOptions = {}): Stack {
  let started: Stack | undefined;
  const current = (): Stack => {
    if (!started) throw new Error("the file's stack is started in beforeAll: use it in a hook or a test");
    return started;
  };
  beforeAll(async () => {
    started = await startStack(options);
  });
  afterAll(() => started?.close());
  beforeEach(() => {
    current().sim.clearFaults();
    current().sim.clearRequests();
  });
  return {
    get sim() {
      return current().sim;
    },
    get gateway() {
      return current().gateway;
    },
    get url() {
      return current().url;
    },
    get origin() {
      return current().origin;
    },
    get token() {
      return current().token;
    },
    graphql: (query, variables, callOptions) => current().graphql(query, variables, callOptions),
    close: () => current().close(),
  };
}

/**
 * A gateway of its own in front of `epmwareUrl`, for one `{ users { totalCount } }` sent with `token`, closed
 * after: for tests of what EPMWARE_URL accepts. The answer's raw text, as the client reads it.
 */
export async function usersCountThrough(epmwareUrl: string, token: string): Promise<string> {
  const config = loadConfig({ EPMWARE_URL: epmwareUrl, LOG_LEVEL: 'error' });
  const gateway = createGateway(config, { logStream: { write: () => {} } });
  const url = await gateway.listen(0, '127.0.0.1');
  try {
    const response = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Token ${token}` },
      body: JSON.stringify({ query: '{ users { totalCount } }' }),
    });
    return await response.body.text();
  } finally {
    await gateway.close();
  }
}

/**
 * Polls `task(taskId) { state }` through the gateway until it is `wanted` (at most 50 tries, 100 ms apart) and
 * returns the last state seen, for the caller to assert on.
 */
export async function taskStateEventually(stack: Stack, taskId: string, wanted: string): Promise<string> {
  let state = '';
  for (let attempt = 0; attempt < 50; attempt++) {
    const answer = await stack.graphql<{ task: { state: string } | null }>(
      'query ($id: ID!) { task(taskId: $id) { state } }',
      { id: taskId },
    );
    state = answer.data?.task?.state ?? '';
    if (state === wanted) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return state;
}

/*
 * The budget's promises, which the in-process budget (upstream-budget.test.ts) and the Redis-shared one
 * (redis-budget.test.ts) must both keep: the same requests and the same checks of what EPMware received.
 */

/** Four different reads: none can be coalesced with another. */
export function fourDistinctReads(api: Epmware, deploymentName: string): Array<() => Promise<unknown>> {
  return [
    () => api.listUsers(),
    () => api.listGroups(),
    () => api.groupMembers(),
    () => api.deploymentExecutions(deploymentName, true),
  ];
}

/**
 * For a gateway started with UPSTREAM_RATE_LIMIT_PER_MIN=2, a budget window of `windowMs` and a deadline longer
 * than two windows: four distinct reads all wait for their slot and succeed, never more than two in one window.
 */
export async function expectTwoPerWindow(api: Epmware, sim: Simulator, windowMs: number): Promise<void> {
  const reads = fourDistinctReads(api, sim.fixtures.deploymentNames[0] ?? '');
  const outcomes = await Promise.allSettled(reads.map((read) => read()));
  expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
  const at = sim.requests().map((r) => r.at);
  expect(at).toHaveLength(4);
  // The budget's invariant: the (i+2)-th request comes a full window after the i-th was answered.
  for (let i = 0; i + 2 < at.length; i++) {
    expect((at[i + 2] ?? 0) - (at[i] ?? 0)).toBeGreaterThanOrEqual(windowMs);
  }
}

/**
 * For a gateway started with UPSTREAM_RATE_LIMIT_PER_MIN=1 and a short budget window: the first read takes the
 * only slot; two background polls queue, then two interactive reads arrive, and EPMware receives those first.
 */
export async function expectInteractiveBeforeBackground(api: Epmware, sim: Simulator): Promise<void> {
  const { succeededTaskId, failedTaskId } = sim.fixtures;
  const calls = [
    api.listUsers(),
    api.taskStatus(succeededTaskId, 'background'),
    api.taskStatus(failedTaskId, 'background'),
    api.listGroups(),
    api.groupMembers(),
  ];
  const outcomes = await Promise.allSettled(calls);
  expect(outcomes.every((o) => o.status === 'fulfilled')).toBe(true);
  expect(sim.requests().map((r) => r.path)).toEqual([
    '/service/api/security/users',
    '/service/api/security/groups',
    '/service/api/security/groups/users',
    `/service/api/task/get_status/${succeededTaskId}`,
    `/service/api/task/get_status/${failedTaskId}`,
  ]);
}
