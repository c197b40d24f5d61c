/**
 * One poller per watched task across gateway instances (issue #13): a Redis lease decides which instance polls,
 * pub/sub fans its changes out to every instance's subscribers, another instance takes over when the polling
 * one dies, and without Redis each instance polls for itself until it is back. Real Redis, real HTTP, several
 * gateways on one simulator; what EPMware saw is read from the simulator's request log.
 *
 * The shared Redis (127.0.0.1:6379, a key prefix of this file's own) serves the fan-out and takeover tests; the
 * outage test starts a redis-server of its own so that it can stop it. With no Redis these tests are skipped with
 * a message, except under CI=true, where they fail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { type GatewayProcess, startGatewayProcess } from './gateway-process.ts';
import {
  type Instance,
  startDeploymentRun,
  startInstances,
  type Watcher,
  watchTask,
} from './pollers-instances.ts';
import {
  deleteKeys,
  PrivateRedis,
  redisMissing,
  redisServerMissing,
  SHARED_REDIS_URL,
  testPrefix,
} from './redis-support.ts';
import { sleep, waitFor } from './subscription-clients.ts';

const INTERVAL_MS = 200;
const PREFIX = testPrefix('pollers');
// Both blocks are skipped when either is missing: the shared Redis, or the redis-server binary for the outage.
const missing = (await redisMissing()) ?? redisServerMissing();
const describeRedis = describe.skipIf(missing !== null);

const env = (redisUrl: string) => ({
  REDIS_URL: redisUrl,
  REDIS_KEY_PREFIX: PREFIX,
  TASK_POLL_INTERVAL_MS: String(INTERVAL_MS),
  CACHE_TTL_MS: '0',
});

async function startTask(sim: Simulator, durationMs: number): Promise<string> {
  sim.configure({ taskDurationMs: durationMs });
  return startDeploymentRun(sim);
}

const polls = (sim: Simulator, taskId: string) =>
  sim.requests({ method: 'GET', path: `/service/api/task/get_status/${taskId}` });
const leases = (instances: Instance[]) =>
  instances.reduce((sum, { gateway }) => sum + gateway.services.taskWatcher.leasesHeld, 0);
const polling = (instances: Instance[]) =>
  instances.reduce((sum, { gateway }) => sum + gateway.services.taskWatcher.pollingCount, 0);

/** What every finished watch must show: progress never backwards, SUCCEEDED at 100 last. */
function expectCompleted(watcher: Watcher): void {
  const updates = watcher.events.filter((event) => 'state' in event);
  expect(updates.length).toBe(watcher.events.length);
  expect(updates.at(-1)).toEqual({ state: 'SUCCEEDED', percentCompleted: 100 });
  for (let i = 1; i < updates.length; i++) {
    expect(updates[i]?.percentCompleted).toBeGreaterThanOrEqual(updates[i - 1]?.percentCompleted ?? 0);
  }
}

describeRedis('task pollers across instances (shared Redis)', () => {
  let sim: Simulator;
  let instances: Instance[];
  beforeAll(async () => {
    sim = await startSimulator({ rateLimits: 'relaxed' });
    instances = await startInstances(sim, 3, env(SHARED_REDIS_URL));
    await waitFor(() => instances.every(({ gateway }) => gateway.services.taskWatcher.sharing));
  });
  afterAll(async () => {
    await Promise.all(instances.map(({ gateway }) => gateway.close()));
    await sim.close();
    await deleteKeys(SHARED_REDIS_URL, PREFIX);
  });

  it('30 subscribers over three instances: one poller, everyone sees the changes and completes', async () => {
    const taskId = await startTask(sim, 6_000);
    const watchers = Array.from({ length: 30 }, (_, i) =>
      watchTask((instances[i % 3] as Instance).url, sim.tokens.primary, taskId),
    );
    let mostLeases = 0;
    const sampler = setInterval(() => {
      mostLeases = Math.max(mostLeases, leases(instances));
    }, 5);
    await Promise.all(watchers.map((watcher) => watcher.done));
    clearInterval(sampler);

    // Every change from the moment the last of them joined reached all thirty, on every instance.
    const percents = (watcher: Watcher) =>
      watcher.events.flatMap((event) => ('percentCompleted' in event ? [event.percentCompleted] : []));
    const joinedAt = Math.max(...watchers.map((watcher) => percents(watcher)[0] ?? 0));
    const seen = watchers.map((watcher) => percents(watcher).filter((percent) => percent >= joinedAt));
    for (const [i, watcher] of watchers.entries()) {
      expectCompleted(watcher);
      expect(seen[i]).toEqual(seen[0]);
    }
    expect(seen[0]?.length).toBeGreaterThanOrEqual(3);
    // Never two valid leases at once, and about the polls of one subscriber: one per interval over the span they
    // covered. Three pollers would make three times as many; the margin is for a round Redis answers too late on
    // a loaded machine, after which that instance polls for itself (by design) until the next round.
    expect(mostLeases).toBe(1);
    const calls = polls(sim, taskId);
    const span = (calls.at(-1)?.at ?? 0) - (calls[0]?.at ?? 0);
    expect(calls.length).toBeLessThanOrEqual(Math.floor((1.5 * span) / INTERVAL_MS) + 2);
    await waitFor(() => polling(instances) === 0);
    for (const { gateway } of instances) expect(gateway.services.taskWatcher.pollerCount).toBe(0);
  });

  it('a late subscriber on another instance gets the current state at once, from Redis', async () => {
    const taskId = await startTask(sim, 60_000);
    const early = watchTask((instances[0] as Instance).url, sim.tokens.primary, taskId);
    await early.first;
    const before = polls(sim, taskId).length;
    const late = watchTask((instances[1] as Instance).url, sim.tokens.primary, taskId);
    await late.first;
    expect(late.events[0]).toMatchObject({ state: 'RUNNING' });
    // Instance 1 follows: it polled nothing for its subscriber (instance 0 may have polled on its own cadence).
    expect(instances[1]?.gateway.services.taskWatcher.pollingCount).toBe(0);
    expect(polls(sim, taskId).length - before).toBeLessThanOrEqual(1);
    early.stop();
    late.stop();
    await waitFor(() => instances.every(({ gateway }) => gateway.services.taskWatcher.pollerCount === 0));
  });

  it("tokens stay apart across instances: another token's watch of the same task polls with that token", async () => {
    const taskId = await startTask(sim, 60_000);
    const mine = watchTask((instances[0] as Instance).url, sim.tokens.primary, taskId);
    await mine.first;
    // The secondary tenant has no such task: its own lease, its own poll with its own token, NOT_FOUND.
    const theirs = watchTask((instances[1] as Instance).url, sim.tokens.secondary, taskId);
    await theirs.done;
    expect(theirs.events).toEqual([{ code: 'NOT_FOUND' }]);
    const tokens = polls(sim, taskId).map((call) => call.token);
    expect(tokens.filter((token) => token === sim.tokens.secondary)).toHaveLength(1);
    expect(mine.events.every((event) => 'state' in event)).toBe(true);
    mine.stop();
    await waitFor(() => instances.every(({ gateway }) => gateway.services.taskWatcher.pollerCount === 0));
  });

  it("an error that ends the holder's watch ends every instance's watch with it", async () => {
    const taskId = 'no-such-task-404';
    const watchers = [0, 1, 2].map((i) =>
      watchTask((instances[i] as Instance).url, sim.tokens.primary, taskId),
    );
    await Promise.all(watchers.map((watcher) => watcher.done));
    for (const watcher of watchers) expect(watcher.events).toEqual([{ code: 'NOT_FOUND' }]);
    // One poll per instance at most (one when the others joined before the holder's answer).
    expect(polls(sim, taskId).length).toBeLessThanOrEqual(3);
    await waitFor(() => instances.every(({ gateway }) => gateway.services.taskWatcher.pollerCount === 0));
  });

  it('the last subscriber on the polling instance leaves: another instance takes over at once', async () => {
    const taskId = await startTask(sim, 60_000);
    const leader = watchTask((instances[0] as Instance).url, sim.tokens.primary, taskId);
    await leader.first;
    const follower = watchTask((instances[2] as Instance).url, sim.tokens.primary, taskId);
    await follower.first;
    expect(instances[0]?.gateway.services.taskWatcher.pollingCount).toBe(1);
    expect(instances[2]?.gateway.services.taskWatcher.pollingCount).toBe(0);

    leader.stop();
    await waitFor(() => instances[2]?.gateway.services.taskWatcher.pollingCount === 1);
    expect(polling(instances)).toBe(1);
    const handedOver = polls(sim, taskId).length;
    await waitFor(() => polls(sim, taskId).length >= handedOver + 2);
    follower.stop();
    await waitFor(() => polling(instances) === 0);
  });

  it('kill the polling instance: another takes over and subscribers elsewhere keep receiving', async () => {
    const doomed: GatewayProcess = await startGatewayProcess({
      ...env(SHARED_REDIS_URL),
      EPMWARE_URL: sim.url,
      LOG_LEVEL: 'error',
      UPSTREAM_RATE_LIMIT_PER_MIN: '1000000',
    });
    try {
      const taskId = await startTask(sim, 4_000);
      // The first watcher, on the doomed process, takes the lease; the others follow.
      const first = watchTask(doomed.url, sim.tokens.primary, taskId);
      await first.first;
      const survivors = Array.from({ length: 6 }, (_, i) =>
        watchTask((instances[1 + (i % 2)] as Instance).url, sim.tokens.primary, taskId),
      );
      await Promise.all(survivors.map((watcher) => watcher.first));
      expect(polling(instances)).toBe(0);

      doomed.child.kill('SIGKILL');
      await doomed.exited;
      const killedAt = Date.now();
      const seenAtKill = survivors.map((watcher) => watcher.events.length);
      await waitFor(() => polling(instances) === 1);
      await Promise.all(survivors.map((watcher) => watcher.done));

      for (const [i, watcher] of survivors.entries()) {
        expectCompleted(watcher);
        expect(watcher.events.length).toBeGreaterThan(seenAtKill[i] ?? 0);
      }
      expect(polls(sim, taskId).filter((call) => call.at > killedAt).length).toBeGreaterThan(0);
      await waitFor(() => polling(instances) === 0);
    } finally {
      if (doomed.child.exitCode === null && doomed.child.signalCode === null) doomed.child.kill('SIGKILL');
    }
  });
});

describeRedis('task pollers when Redis goes away (a redis-server of this test)', () => {
  let sim: Simulator;
  let redis: PrivateRedis;
  let instances: Instance[];
  beforeAll(async () => {
    sim = await startSimulator({ rateLimits: 'relaxed' });
    redis = await PrivateRedis.start();
    instances = await startInstances(sim, 2, env(redis.url));
    await waitFor(() => instances.every(({ gateway }) => gateway.services.taskWatcher.sharing));
  });
  afterAll(async () => {
    await Promise.all(instances.map(({ gateway }) => gateway.close()));
    await sim.close();
    await redis.stop();
  });

  it('Redis stopped mid-run: each instance polls for itself; Redis back: one poller again', async () => {
    const taskId = await startTask(sim, 8_000);
    const watchers = Array.from({ length: 6 }, (_, i) =>
      watchTask((instances[i % 2] as Instance).url, sim.tokens.primary, taskId),
    );
    await Promise.all(watchers.map((watcher) => watcher.first));
    await waitFor(() => polling(instances) === 1);

    await redis.stop();
    await waitFor(() => instances.every(({ gateway }) => !gateway.services.taskWatcher.sharing));
    // Both instances poll for themselves now, and every subscriber keeps receiving.
    await waitFor(() => polling(instances) === 2);
    for (const { gateway } of instances) expect(gateway.services.taskWatcher.roleCount('solo')).toBe(1);
    const seenAtOutage = watchers.map((watcher) => watcher.events.length);
    await waitFor(() => watchers.every((watcher, i) => watcher.events.length > (seenAtOutage[i] ?? 0)));

    await redis.start();
    await waitFor(() => instances.every(({ gateway }) => gateway.services.taskWatcher.sharing));
    await waitFor(() => polling(instances) === 1);
    const leaders = instances.map(({ gateway }) => gateway.services.taskWatcher.roleCount('leader'));
    const followers = instances.map(({ gateway }) => gateway.services.taskWatcher.roleCount('follower'));
    expect(leaders.sort()).toEqual([0, 1]);
    expect(followers.sort()).toEqual([0, 1]);

    await Promise.all(watchers.map((watcher) => watcher.done));
    for (const watcher of watchers) expectCompleted(watcher);
    await waitFor(() => polling(instances) === 0);
    await sleep(2 * INTERVAL_MS);
    for (const { gateway } of instances) expect(gateway.services.taskWatcher.pollerCount).toBe(0);
  });
});
