/**
 * Several gateway instances on one simulator sharing one Redis (the task-poller lease and fan-out tests and the
 * poller bench): in-process gateways on port 0, a running task to watch, and SSE watchers that record every
 * event. Redis itself (reachability, key cleanup, a redis-server a test may stop) is in redis-support.ts.
 */
import { createClient } from 'graphql-sse';
import { type Config, loadConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import type { Simulator } from '../src/simulator/index.ts';

export interface Instance {
  gateway: Gateway;
  url: URL;
}

export async function startInstances(
  sim: Simulator,
  count: number,
  env: Record<string, string>,
): Promise<Instance[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const config: Config = {
        ...loadConfig({ LOG_LEVEL: 'error', UPSTREAM_RATE_LIMIT_PER_MIN: '1000000', ...env }),
        epmwareUrl: new URL(sim.url),
      };
      // A fresh deployment (nothing spent before it): each reserve of the budget opens at once, as in redis-support.
      const gateway = createGateway(config, { upstream: { budgetReserveOpensAfterMs: 0 } });
      const url = await gateway.listen(0, '127.0.0.1');
      return { gateway, url };
    }),
  );
}

/**
 * Starts a deployment run through the simulator's REST API, as a client of EPMware would, and returns its task id:
 * the first deployment that is neither busy nor the one the simulator fails.
 */
export async function startDeploymentRun(sim: Simulator): Promise<string> {
  for (const name of sim.fixtures.deploymentNames) {
    if (name === sim.fixtures.failingDeploymentName) continue;
    const response = await fetch(`${sim.url}/service/api/deployment/run`, {
      method: 'POST',
      headers: { authorization: `Token ${sim.tokens.primary}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    const answer = (await response.json()) as { taskId?: string };
    if (response.status === 200 && answer.taskId) return answer.taskId;
  }
  throw new Error('every deployment is busy');
}

/** One SSE subscriber to taskUpdates, recording what it receives. */
export interface Watcher {
  events: Array<{ state: string; percentCompleted: number } | { code: unknown }>;
  /** Resolves with the first event. */
  first: Promise<void>;
  /** Resolves when the server completes the stream (or it fails). */
  done: Promise<void>;
  stop(): void;
}

const TASK_UPDATES = 'subscription ($id: ID!) { taskUpdates(taskId: $id) { state percentCompleted } }';

export function watchTask(url: URL, token: string, taskId: string): Watcher {
  const client = createClient({
    url: url.href,
    headers: { authorization: `Token ${token}` },
    retryAttempts: 0,
  });
  const events: Watcher['events'] = [];
  let firstSeen = () => {};
  const first = new Promise<void>((resolve) => {
    firstSeen = resolve;
  });
  let unsubscribe = () => {};
  const done = new Promise<void>((resolve) => {
    unsubscribe = client.subscribe<{ taskUpdates: { state: string; percentCompleted: number } }>(
      { query: TASK_UPDATES, variables: { id: taskId } },
      {
        next: (result) => {
          const update = result.data?.taskUpdates;
          events.push(update ?? { code: result.errors?.[0]?.extensions?.code });
          firstSeen();
        },
        error: () => {
          firstSeen();
          resolve();
        },
        complete: () => resolve(),
      },
    );
  }).finally(() => client.dispose());
  return {
    events,
    first,
    done,
    stop: () => {
      unsubscribe();
      client.dispose();
    },
  };
}
