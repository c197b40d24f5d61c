/**
 * What the Redis tests share: whether a Redis is there (skip with a visible message when not; CI=true fails
 * instead), several gateway instances on one simulator and one Redis, a private redis-server that a test may stop
 * and start, and cleanup of a test file's own key prefixes.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, expect } from 'vitest';
import { type Config, loadConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { type Simulator, type SimulatorOptions, startSimulator } from '../src/simulator/index.ts';
import type { UpstreamTuning } from '../src/upstream/client.ts';
import { freePort } from './free-port.ts';
import type { GraphQLResponse } from './harness.ts';

export const SHARED_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/** Whether a Redis answers at `url` within a second (one try, no reconnecting). */
export async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
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

/**
 * null when the shared Redis answers; otherwise what is missing. Under CI=true a missing Redis is an error
 * (.ci/run starts one), elsewhere the caller skips with the message.
 */
export async function redisMissing(): Promise<string | null> {
  if (await redisAnswers(SHARED_REDIS_URL)) return null;
  const missing = `no Redis answers at ${SHARED_REDIS_URL} (start one: redis-server --port 6379 --save "")`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${missing}`);
  process.stderr.write(`SKIPPED Redis tests: ${missing}\n`);
  return missing;
}

/** null when the redis-server binary is installed (a test that stops Redis runs its own). */
export function redisServerMissing(): string | null {
  const found = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (found) return null;
  const missing = 'the redis-server binary is not installed (apt-get install redis-server)';
  if (process.env.CI === 'true') throw new Error(`CI=true and ${missing}`);
  process.stderr.write(`SKIPPED tests that stop Redis: ${missing}\n`);
  return missing;
}

/** A unique key prefix per test file, so runs in parallel (and other people's) never meet. */
export function testPrefix(name: string): string {
  return `epmware-gateway-test:${name}:${randomUUID().slice(0, 8)}:`;
}

/** Every key under `prefix`, by SCAN: never KEYS, which blocks a Redis that others share. */
async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

/** Deletes every key under the prefix; returns how many were left (0 once clean). */
export async function deleteKeys(url: string, prefix: string): Promise<number> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    const keys = await keysUnder(client, prefix);
    if (keys.length > 0) await client.del(...keys);
    return (await keysUnder(client, prefix)).length;
  } finally {
    client.disconnect();
  }
}

export interface Instance {
  gateway: Gateway;
  /** The instance's JSON log lines, as written (LOG_LEVEL=info). */
  logs: string[];
  url: URL;
  origin: string;
  graphql<TData = Record<string, unknown>>(
    query: string,
    variables: Record<string, unknown> | undefined,
    token: string,
  ): Promise<GraphQLResponse<TData>>;
}

/** A gateway instance in front of `sim`, sharing state through `redisUrl` under `prefix`. */
export async function startInstance(
  sim: Simulator,
  redisUrl: string,
  prefix: string,
  env: Record<string, string> = {},
  upstream?: UpstreamTuning,
): Promise<Instance> {
  const config: Config = {
    ...loadConfig({ LOG_LEVEL: 'info', REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix, ...env }),
    epmwareUrl: new URL(sim.url),
  };
  const logs: string[] = [];
  // These instances start on a fresh key prefix, where nothing was spent: their reserves of the budget open at
  // once (the opening a window after start is tested in redis-budget-churn.test.ts).
  const tuning = { budgetReserveOpensAfterMs: 0, ...upstream };
  const gateway = createGateway(config, {
    upstream: tuning,
    logStream: { write: (line) => void logs.push(line) },
  });
  const url = await gateway.listen(0, '127.0.0.1');
  await redisReady(gateway);
  return {
    gateway,
    logs,
    url,
    origin: url.origin,
    async graphql(query, variables, token) {
      const response = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Token ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.body.json()) as Omit<GraphQLResponse<never>, 'status'>;
      return { status: response.statusCode, ...body } as never;
    },
  };
}

export interface SharedRedisInstances {
  /** The block's simulator (started in beforeAll). */
  readonly sim: Simulator;
  /** Closes the instances of the last start, then starts `count` new ones under a fresh key prefix. */
  start(count: number, env: Record<string, string>, upstream?: UpstreamTuning): Promise<Instance[]>;
  /** Closes the instances of the last start. */
  stop(): Promise<void>;
}

/**
 * The setup of a describe block of tests against the shared Redis; call it inside the block. Before all: a
 * simulator. Each `start`: gateway instances on it under a key prefix of their own, so each test begins from
 * empty shared state. After all: the instances and the simulator closed, and not one key left under any prefix.
 */
export function sharedRedisInstances(name: string, simulator: SimulatorOptions): SharedRedisInstances {
  const prefixes: string[] = [];
  let sim: Simulator | undefined;
  let instances: Instance[] = [];
  const stop = async () => {
    await Promise.all(instances.map((instance) => instance.gateway.close()));
    instances = [];
  };
  beforeAll(async () => {
    sim = await startSimulator(simulator);
  });
  afterAll(async () => {
    await stop();
    await sim?.close();
    for (const prefix of prefixes) expect(await deleteKeys(SHARED_REDIS_URL, prefix)).toBe(0);
  });
  const started = (): Simulator => {
    if (!sim) throw new Error('the simulator is started in beforeAll: use it in a hook or a test');
    return sim;
  };
  return {
    get sim() {
      return started();
    },
    async start(count, env, upstream) {
      await stop();
      const prefix = testPrefix(name);
      prefixes.push(prefix);
      instances = await Promise.all(
        Array.from({ length: count }, () =>
          startInstance(started(), SHARED_REDIS_URL, prefix, env, upstream),
        ),
      );
      return instances;
    },
    stop,
  };
}

/** Resolves when the instance's Redis connection is up (or rejects after `tries` checks 50 ms apart). */
export async function redisReady(gateway: Gateway, up = true, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (gateway.services.redis?.isUp() === up) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis never became ${up ? 'up' : 'down'} for this instance`);
}

/** A redis-server of the test's own, on a free port, which it may stop and start again on the same port. */
export class PrivateRedis {
  #process: ChildProcess | null = null;
  private constructor(
    readonly port: number,
    readonly password: string | undefined,
  ) {}

  /** A new redis-server on a free port, answering (with `password`: requiring it). */
  static async start(options: { password?: string } = {}): Promise<PrivateRedis> {
    const redis = await PrivateRedis.reserve(options);
    await redis.start();
    return redis;
  }

  /** A free port for a redis-server that is not started yet (a test starts it after the gateway). */
  static async reserve(options: { password?: string } = {}): Promise<PrivateRedis> {
    return new PrivateRedis(await freePort(), options.password);
  }

  get url(): string {
    const auth = this.password === undefined ? '' : `:${encodeURIComponent(this.password)}@`;
    return `redis://${auth}127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    const auth = this.password === undefined ? [] : ['--requirepass', this.password];
    this.#process = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...auth],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 100; i++) {
      if (await redisAnswers(this.url)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`redis-server did not start on port ${this.port}`);
  }

  /** SIGSTOP: the process stops answering, its connections stay open (a wedged or frozen Redis). */
  pause(): void {
    this.#process?.kill('SIGSTOP');
  }

  /** SIGCONT: it answers again, from where it stopped. */
  resume(): void {
    this.#process?.kill('SIGCONT');
  }

  /** SIGKILL: Redis goes away at once, as a crashed or unplugged one would. */
  async stop(): Promise<void> {
    const child = this.#process;
    this.#process = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}
