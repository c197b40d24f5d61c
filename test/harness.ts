/**
 * The one test harness: a simulator and a gateway on port 0 over loopback, a GraphQL caller, and teardown.
 * Tests assert on what the gateway answered AND on what the simulator received (sim.requests()).
 */
import { request } from 'undici';
import { type Config, loadConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import type { LogDestination } from '../src/observability/logger.ts';
import { type Simulator, type SimulatorOptions, startSimulator } from '../src/simulator/index.ts';
import type { TaskWatcherTuning } from '../src/tasks/task-watcher.ts';
import type { UpstreamTuning } from '../src/upstream/client.ts';

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
