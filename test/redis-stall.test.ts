/**
 * A Redis that stops answering with its connections open (issue #19 item 6): the test's own redis-server is
 * SIGSTOPped, so every TCP connection stays up and every command just waits. Each instance must count it as down
 * within its fuse (/readyz, /metrics, one log line), stop sending it anything on a request's path, keep serving
 * with in-process state (task watches poll for themselves), and come back by itself when a PING is answered after
 * SIGCONT: sharing resumes and one instance polls each task again.
 *
 * What Redis was asked is read from a proxy in front of it (redis-proxy.ts), as EPMware's calls are read from the
 * simulator's log: no assertion here depends on how long anything took.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { startDeploymentRun, type Watcher, watchTask } from './pollers-instances.ts';
import { RedisCommandProxy } from './redis-proxy.ts';
import {
  type Instance,
  PrivateRedis,
  redisServerMissing,
  startInstance,
  testPrefix,
} from './redis-support.ts';
import { waitFor } from './subscription-clients.ts';

const missing = redisServerMissing();

async function get(origin: string, path: string): Promise<{ status: number; text: string }> {
  const response = await request(`${origin}${path}`);
  return { status: response.statusCode, text: await response.body.text() };
}

async function readyz(instance: Instance): Promise<{ status: number; body: Record<string, unknown> }> {
  const { status, text } = await get(instance.origin, '/readyz');
  return { status, body: JSON.parse(text) as Record<string, unknown> };
}

/** Polls /readyz until it names Redis as `state` (how long it takes is not the question). */
async function redisSaysEventually(
  instance: Instance,
  state: 'up' | 'down',
): Promise<Record<string, unknown>> {
  let body: Record<string, unknown> = {};
  await waitFor(async () => {
    body = (await readyz(instance)).body;
    return body.redis === state;
  }, 15_000);
  return body;
}

const read = 'query ($u: String!) { user(userName: $u) { lastName } }';
const rename = (lastName: string) =>
  `mutation ($u: String!) { updateSsoUser(userName: $u, input: { lastName: "${lastName}" }) { lastName } }`;

describe.skipIf(missing !== null)('Redis stopped (SIGSTOP) with its connections open', () => {
  let redis: PrivateRedis;
  let proxy: RedisCommandProxy;
  let sim: Simulator;
  let a: Instance;
  let b: Instance;
  const watchers: Watcher[] = [];

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    proxy = await RedisCommandProxy.start(redis.port);
    sim = await startSimulator({ rateLimits: 'relaxed', taskDurationMs: 120_000 });
    const prefix = testPrefix('stall');
    const env = { CACHE_TTL_MS: '60000', TASK_POLL_INTERVAL_MS: '200' };
    a = await startInstance(sim, proxy.url(), prefix, env);
    b = await startInstance(sim, proxy.url(), prefix, env);
  });

  afterAll(async () => {
    for (const watcher of watchers) watcher.stop();
    redis?.resume();
    await a?.gateway.close();
    await b?.gateway.close();
    await sim?.close();
    await proxy?.close();
    await redis?.stop();
  });

  it('is down within the fuse, sent nothing while down, and comes back by itself', async () => {
    const token = sim.tokens.primary;
    const users = sim.state(token).users();
    const userName = users[1]?.userName ?? '';
    expect((await b.graphql(read, { u: userName }, token)).errors).toBeUndefined();
    expect((await readyz(a)).body).toMatchObject({ redis: 'up' });

    // A running task watched on both instances: one of them holds the lease and polls.
    const taskId = await startDeploymentRun(sim);
    watchers.push(watchTask(a.url, token, taskId), watchTask(b.url, token, taskId));
    await Promise.all(watchers.map((watcher) => watcher.first));
    const leases = () =>
      a.gateway.services.taskWatcher.leasesHeld + b.gateway.services.taskWatcher.leasesHeld;
    await waitFor(() => leases() === 1);

    redis.pause();
    // Both say so: /readyz (still ready: each serves alone), /metrics, and one log line each.
    for (const instance of [a, b]) {
      const body = await redisSaysEventually(instance, 'down');
      expect(body).toMatchObject({ status: 'ready' });
      expect(String(body.redisCause)).toMatch(/^not answering: no answer to a PING/);
      expect((await get(instance.origin, '/metrics')).text).toMatch(/^gateway_redis_up 0$/m);
      expect(instance.logs.filter((line) => line.includes('redis not answering'))).toHaveLength(1);
    }

    // While down, requests never wait on Redis: reads of every user, writes, and readiness checks all answer
    // while it is still stopped, and not one command reaches it (its health checks, PINGs, aside).
    const before = proxy.count(['ping']);
    for (const [i, user] of users.slice(0, 10).entries()) {
      const instance = i % 2 === 0 ? a : b;
      const answer = await instance.graphql<{ user: { lastName: string } }>(
        read,
        { u: user.userName },
        token,
      );
      expect(answer.errors).toBeUndefined();
      expect(answer.data?.user.lastName).toBe(user.lastName);
    }
    const write = await a.graphql(rename('During-Stall'), { u: userName }, token);
    expect(write.errors).toBeUndefined();
    expect(sim.requests({ path: '/service/api/security/users/sso/update/*' })).toHaveLength(1);
    // The task is polled by each instance for itself, without asking Redis who holds the lease.
    sim.clearRequests();
    await waitFor(
      () => a.gateway.services.taskWatcher.pollingCount + b.gateway.services.taskWatcher.pollingCount === 2,
    );
    await waitFor(() => sim.requests({ path: `/service/api/task/get_status/${taskId}` }).length >= 4);
    expect(proxy.count(['ping'])).toBe(before);

    redis.resume();
    for (const instance of [a, b]) {
      const body = await redisSaysEventually(instance, 'up');
      expect(body.redisCause).toBeUndefined();
      expect((await get(instance.origin, '/metrics')).text).toMatch(/^gateway_redis_up 1$/m);
      expect(instance.logs.filter((line) => line.includes('redis connected'))).toHaveLength(2);
    }
    // Sharing resumed: one instance polls the task again, and a write through A is seen through B at once.
    await waitFor(() => leases() === 1);
    await b.graphql(read, { u: userName }, token);
    expect((await a.graphql(rename('After-Stall'), { u: userName }, token)).errors).toBeUndefined();
    const after = await b.graphql<{ user: { lastName: string } }>(read, { u: userName }, token);
    expect(after.data?.user.lastName).toBe('After-Stall');
    expect(proxy.count(['ping'])).toBeGreaterThan(before);
  });
});
