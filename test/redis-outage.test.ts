/**
 * Redis is not a single point of failure: with the test's own redis-server stopped mid-run, every instance keeps
 * answering (in-process state, its share of the budget), says so in /readyz and /metrics, and when Redis is back
 * it rejoins: a write through one instance is again seen through the other.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

async function get(origin: string, path: string): Promise<{ status: number; text: string }> {
  const response = await request(`${origin}${path}`);
  return { status: response.statusCode, text: await response.body.text() };
}

describe.skipIf(missing !== null)('Redis stopped mid-run', () => {
  let redis: PrivateRedis;
  let sim: Simulator;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    sim = await startSimulator({ rateLimits: 'relaxed' });
    const prefix = testPrefix('outage');
    // Two instances, a budget of 40 a minute in total: 20 each while Redis is away.
    const env = { CACHE_TTL_MS: '60000', UPSTREAM_RATE_LIMIT_PER_MIN: '40', GATEWAY_INSTANCES: '2' };
    a = await startInstance(sim, redis.url, prefix, env);
    b = await startInstance(sim, redis.url, prefix, env);
  });

  afterAll(async () => {
    await a?.gateway.close();
    await b?.gateway.close();
    await sim?.close();
    // The whole redis-server goes, keys and all: nothing is left behind.
    await redis?.stop();
  });

  const read = 'query ($u: String!) { user(userName: $u) { lastName } }';
  const rename = (lastName: string) =>
    `mutation ($u: String!) { updateSsoUser(userName: $u, input: { lastName: "${lastName}" }) { lastName } }`;

  it('every instance keeps answering, says redis is down, and rejoins when it is back', async () => {
    const token = sim.tokens.primary;
    const userName = sim.state(token).users()[1]?.userName ?? '';
    expect((await b.graphql(read, { u: userName }, token)).errors).toBeUndefined();
    expect(JSON.parse((await get(a.origin, '/readyz')).text)).toMatchObject({ redis: 'up' });

    await redis.stop();
    await redisReady(a.gateway, false);
    await redisReady(b.gateway, false);
    sim.clearRequests();
    // Both keep answering reads and writes with in-process state.
    for (const instance of [a, b]) {
      for (let i = 0; i < 3; i++) {
        const answer = await instance.graphql<{ user: { lastName: string } }>(read, { u: userName }, token);
        expect(answer.errors).toBeUndefined();
        expect(answer.data?.user.lastName).toBe(sim.state(token).users()[1]?.lastName);
      }
    }
    const write = await a.graphql(rename('During-Outage'), { u: userName }, token);
    expect(write.errors).toBeUndefined();
    expect(sim.requests({ path: '/service/api/security/users/sso/update/*' })).toHaveLength(1);
    // Ready (it serves), and it names Redis as down; the metric says the same.
    const ready = await get(a.origin, '/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toMatchObject({ status: 'ready', redis: 'down' });
    const metrics = (await get(a.origin, '/metrics')).text;
    expect(metrics).toMatch(/^gateway_redis_up 0$/m);
    expect(metrics).toMatch(/gateway_shared_state_fallbacks_total\{state="budget"} [1-9]/);

    // While alone, each instance spends only its reserve (40 / (2 × 2) = 10 a minute, src/redis/budget-split.ts):
    // most of 25 distinct reads are refused.
    const codes: string[] = [];
    for (let i = 0; i < 25; i++) {
      const answer = await b.graphql(
        'query ($n: String!) { deployment(name: $n) { latestExecution { id } } }',
        { n: `NO_SUCH_${i}` },
        token,
      );
      codes.push(String(answer.errors?.[0]?.extensions?.code ?? 'OK'));
    }
    expect(codes.filter((code) => code === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(5);

    // Logged once per instance for the whole outage, however many reconnects failed; never with a password or key.
    for (const instance of [a, b]) {
      expect(instance.logs.filter((line) => line.includes('redis unreachable'))).toHaveLength(1);
    }

    await redis.start();
    await redisReady(a.gateway, true);
    await redisReady(b.gateway, true);
    expect(JSON.parse((await get(b.origin, '/readyz')).text)).toMatchObject({ redis: 'up' });
    expect((await get(b.origin, '/metrics')).text).toMatch(/^gateway_redis_up 1$/m);
    expect(b.logs.filter((line) => line.includes('redis connected'))).toHaveLength(2);

    // Sharing resumed: B caches again, a write through A is seen through B at once.
    await b.graphql(read, { u: userName }, token);
    const write2 = await a.graphql(rename('After-Rejoin'), { u: userName }, token);
    expect(write2.errors).toBeUndefined();
    const after = await b.graphql<{ user: { lastName: string } }>(read, { u: userName }, token);
    expect(after.data?.user.lastName).toBe('After-Rejoin');
  });
});
