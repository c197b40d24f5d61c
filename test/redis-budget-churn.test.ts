/**
 * The shared budget holds through churn (src/redis/budget-split.ts): an instance replaced, then Redis restarted
 * empty, and still no window of EPMware's minute sees more than the credential's limit; too low a
 * GATEWAY_INSTANCES cannot make the instances overspend while Redis is up. Windows are shortened (budgetWindowMs)
 * and counted on what the simulator received. A redis-server of this test's own, restarted without its data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/observability/logger.ts';
import { GatewayMetrics } from '../src/observability/metrics.ts';
import { connectRedis } from '../src/redis/connection.ts';
import { SharedBudget } from '../src/redis/shared-budget.ts';
import { SharedStateMetrics } from '../src/redis/state-metrics.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import {
  type Instance,
  PrivateRedis,
  redisReady,
  redisServerMissing,
  startInstance,
  testPrefix,
} from './redis-support.ts';

const missing = redisServerMissing();

const WINDOW_MS = 10_000;
const LIMIT = 12;
/** Three instances: a reserve of ⌊12 / 6⌋ = 2 each, a pool of 12 − 3 × 2 = 6. */
const env = {
  UPSTREAM_RATE_LIMIT_PER_MIN: String(LIMIT),
  GATEWAY_INSTANCES: '3',
  CACHE_TTL_MS: '0',
  // A slot further away than this is refused at once instead of waited for.
  UPSTREAM_TIMEOUT_MS: '1000',
};

let sequence = 0;

/**
 * `count` reads of deployments that do not exist: one upstream request each, nothing cached or coalesced. Each
 * answers NOT_FOUND when it reached EPMware, RATE_LIMITED when the budget had no slot for it.
 */
async function reads(instance: Instance, token: string, count: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const answer = await instance.graphql(
        'query ($n: String!) { deployment(name: $n) { latestExecution { id } } }',
        { n: `NO_SUCH_${++sequence}` },
        token,
      );
      return String(answer.errors?.[0]?.extensions?.code ?? 'no error');
    }),
  );
}

/** The most requests the simulator received within any span of `windowMs`. */
function busiestWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last++) {
    while ((sorted[last] ?? 0) - (sorted[first] ?? 0) >= windowMs) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

describe.skipIf(missing !== null)('the shared budget through churn', () => {
  let redis: PrivateRedis;
  let sim: Simulator;
  const started: Instance[] = [];

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    sim = await startSimulator({ rateLimits: 'relaxed' });
  });

  afterAll(async () => {
    await Promise.all(started.map((instance) => instance.gateway.close()));
    await sim?.close();
    await redis?.stop();
  });

  async function instance(
    prefix: string,
    reserveOpensAfterMs: number,
    extra: Record<string, string> = {},
  ): Promise<Instance> {
    const one = await startInstance(
      sim,
      redis.url,
      prefix,
      { ...env, ...extra },
      { budgetWindowMs: WINDOW_MS, budgetReserveOpensAfterMs: reserveOpensAfterMs },
    );
    started.push(one);
    return one;
  }

  it('an instance replaced, then Redis restarted empty: no window sees more than the limit', async () => {
    const token = sim.tokens.primary;
    const prefix = testPrefix('churn');
    const [a, b, c] = [await instance(prefix, 0), await instance(prefix, 0), await instance(prefix, 0)];
    if (!a || !b || !c) throw new Error('three instances expected');
    sim.clearRequests();

    // C takes the pool (6) and its reserve (2); A and B their reserves (2 each): the whole window, 12.
    const first = [
      ...(await reads(c, token, 10)),
      ...(await reads(a, token, 4)),
      ...(await reads(b, token, 4)),
    ];
    expect(first.filter((code) => code === 'NOT_FOUND')).toHaveLength(LIMIT);
    expect(first.filter((code) => code === 'RATE_LIMITED')).toHaveLength(18 - LIMIT);
    expect(sim.requests()).toHaveLength(LIMIT);

    // C is replaced: what it spent is in EPMware's window but in no one's memory once Redis forgets the pool.
    await c.gateway.close();
    started.splice(started.indexOf(c), 1);
    const replacement = await instance(prefix, WINDOW_MS);
    await redis.stop();
    for (const each of [a, b, replacement]) await redisReady(each.gateway, false);
    await redis.start();
    for (const each of [a, b, replacement]) await redisReady(each.gateway, true);
    const closedBy = () =>
      [a, b, replacement].filter((each) => each.logs.some((line) => line.includes('came back without')));
    await until(() => closedBy().length > 0, 'an instance closes the pool');

    // The pool is closed, A's and B's reserves are spent, the replacement's is not open yet: nothing goes out.
    const second = [
      ...(await reads(a, token, 4)),
      ...(await reads(b, token, 4)),
      ...(await reads(replacement, token, 4)),
    ];
    expect(second.every((code) => code === 'RATE_LIMITED')).toBe(true);
    expect(sim.requests()).toHaveLength(LIMIT);

    // One window after Redis came back the pool opens again, and so has every reserve.
    await sleep(WINDOW_MS + 200);
    const third = [
      ...(await reads(a, token, 5)),
      ...(await reads(b, token, 5)),
      ...(await reads(replacement, token, 5)),
    ];
    expect(third.filter((code) => code === 'NOT_FOUND').length).toBeGreaterThanOrEqual(LIMIT / 2);
    const received = sim.requests();
    expect(received.filter((r) => r.status === 429)).toHaveLength(0);
    expect(
      busiestWindow(
        received.map((r) => r.at),
        WINDOW_MS,
      ),
    ).toBeLessThanOrEqual(LIMIT);
    // The replacement knew the earlier Redis too (it had connected before the restart): whoever checked first
    // closed the pool, once.
    expect(closedBy()).toHaveLength(1);
  });

  it("500 credentials: what the shared budget keeps in memory (the reserve's windows) stays at its maximum", async () => {
    const logger = createLogger('error', { write() {} });
    const metrics = new GatewayMetrics();
    const connection = connectRedis(new URL(redis.url), testPrefix('flood'), logger);
    await until(() => connection.isUp(), 'redis connected');
    const budget = new SharedBudget({
      redis: connection,
      // 6 a minute for three instances: a pool of 3 and a reserve of 1, so each credential's fourth slot comes from
      // the reserve and its window stays in memory for a minute.
      perMinute: 6,
      instances: 3,
      maxWindows: 50,
      reserveOpensAt: 0,
      metrics,
      stateMetrics: new SharedStateMetrics(metrics.registry),
      logger,
    });
    try {
      for (let i = 0; i < 500; i++) {
        for (let slot = 0; slot < 4; slot++) {
          const permit = await budget.acquire({
            credentialKey: `flood-${i}`,
            endpointClass: 'standard',
            priority: 'interactive',
            deadline: Date.now() + 5_000,
            endpoint: 'security/users',
          });
          permit.settle();
        }
        expect(budget.size).toBeLessThanOrEqual(50);
      }
    } finally {
      budget.close();
      await connection.close();
    }
  });

  it('GATEWAY_INSTANCES set too low: while Redis is up, the instances together still spend at most the limit', async () => {
    const token = sim.tokens.secondary;
    const prefix = testPrefix('too-few');
    // Each believes it is alone: a reserve of 6 each and a pool of 6, 24 if nothing else counted them.
    const low = { GATEWAY_INSTANCES: '1' };
    const three = [
      await instance(prefix, 0, low),
      await instance(prefix, 0, low),
      await instance(prefix, 0, low),
    ];
    sim.clearRequests();
    const codes = (await Promise.all(three.map((each) => reads(each, token, 10)))).flat();
    expect(codes.filter((code) => code === 'NOT_FOUND')).toHaveLength(LIMIT);
    expect(sim.requests()).toHaveLength(LIMIT);
  });
});
