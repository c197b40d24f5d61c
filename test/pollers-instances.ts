/**
 * Several gateway instances on one simulator sharing one Redis (the task-poller lease and fan-out tests and the
 * poller bench): in-process gateways on port 0, SSE watchers that record every event, a Redis reachability
 * check, and a private redis-server that a test may stop and start again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { createClient } from 'graphql-sse';
import { Redis } from 'ioredis';
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
      const gateway = createGateway(config);
      const url = await gateway.listen(0, '127.0.0.1');
      return { gateway, url };
    }),
  );
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

/** Whether a Redis answers at `url` within a second. */
export async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** A key prefix no other test file (or run) uses. */
export function uniquePrefix(name: string): string {
  return `test-${name}-${randomUUID().slice(0, 8)}:`;
}

/** Deletes every key under `prefix` (SCAN, never KEYS: the Redis is shared). */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** A redis-server of this test's own, on a free port, that the test may stop and start again. */
export class PrivateRedis {
  readonly port: number;
  #child: ChildProcess | null = null;

  private constructor(port: number) {
    this.port = port;
  }

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    this.#child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    for (let attempt = 0; attempt < 100; attempt++) {
      if (await redisAnswers(this.url)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`redis-server did not start on port ${this.port}`);
  }

  /** SIGKILL: Redis goes away at once, as a crashed or unplugged one would. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

/** Whether a redis-server binary can be started here. */
export function redisServerAvailable(): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('redis-server', ['--version'], { stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
