/**
 * Watch quotas (issue #19 item 5): MAX_WATCHED_TASKS for the instance and MAX_WATCHED_TASKS_PER_CREDENTIAL for one
 * token, so one credential watching made-up task ids cannot fill the instance and refuse another tenant; and a
 * watch of an unknown task ends with NOT_FOUND at its first poll's 404 and gives its slot back at once, with the
 * in-process poller and with the Redis-shared one. Real graphql-ws and graphql-sse clients over loopback; what
 * EPMware saw is read from the simulator's request log.
 *
 * "Held" watches are made-up task ids whose status polls the simulator delays for a minute: like an unknown task
 * waiting in a busy credential's budget queue, each holds its slot for as long as the test needs.
 */
import type { Client as WsClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { type Stack, startStack } from './harness.ts';
import { watchTask } from './pollers-instances.ts';
import {
  deleteKeys,
  type Instance,
  redisMissing,
  SHARED_REDIS_URL,
  startInstance,
  testPrefix,
} from './redis-support.ts';
import {
  startRun,
  statusCalls,
  TASK_UPDATES,
  type TaskEvent,
  waitFor,
  wsClient,
} from './subscription-clients.ts';

const HELD = '/service/api/task/get_status/held-*';

describe('configuration', () => {
  it('defaults 10,000 and 1,000; a bad value names its variable; the per-credential quota is capped by the cap', () => {
    expect(loadConfig({})).toMatchObject({ maxWatchedTasks: 10_000, maxWatchedTasksPerCredential: 1_000 });
    expect(loadConfig({ MAX_WATCHED_TASKS: '50' })).toMatchObject({
      maxWatchedTasks: 50,
      maxWatchedTasksPerCredential: 50,
    });
    expect(() => loadConfig({ MAX_WATCHED_TASKS: '0' })).toThrow(/^MAX_WATCHED_TASKS: /);
    expect(() => loadConfig({ MAX_WATCHED_TASKS_PER_CREDENTIAL: 'many' })).toThrow(
      /^MAX_WATCHED_TASKS_PER_CREDENTIAL: /,
    );
  });
});

/** One subscription's outcome so far: its first message (an update or an error's code) and whether it ended. */
interface Watch {
  taskId: string;
  first(): { state?: string; code?: unknown } | undefined;
  readonly ended: boolean;
  unsubscribe(): void;
}

function watchOverWs(client: WsClient, taskId: string): Watch {
  let first: { state?: string; code?: unknown } | undefined;
  let ended = false;
  const unsubscribe = client.subscribe<TaskEvent['data']>(
    { query: TASK_UPDATES, variables: { taskId } },
    {
      next: (event) => {
        const update = (event as TaskEvent).data?.taskUpdates;
        first ??= update ? { state: update.state } : { code: event.errors?.[0]?.extensions?.code };
      },
      error: (errors) => {
        const list = errors as Array<{ extensions?: { code?: unknown } }>;
        first ??= { code: Array.isArray(list) ? list[0]?.extensions?.code : 'SOCKET_ERROR' };
        ended = true;
      },
      complete: () => {
        ended = true;
      },
    },
  );
  return {
    taskId,
    first: () => first,
    get ended() {
      return ended;
    },
    unsubscribe,
  };
}

/** The first message of a watch that is expected to end by itself (a refusal, NOT_FOUND). */
async function endedWith(watch: Watch): Promise<unknown> {
  await waitFor(() => watch.ended);
  return watch.first()?.code;
}

/** Watches whose poll is out: accepted, holding their slot. */
async function heldBy(stack: Stack, taskIds: string[]): Promise<void> {
  await waitFor(() => taskIds.every((taskId) => statusCalls(stack, taskId) === 1));
}

describe('per-credential quota', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: {
        MAX_WATCHED_TASKS: '6',
        MAX_WATCHED_TASKS_PER_CREDENTIAL: '4',
        TASK_POLL_INTERVAL_MS: '200',
      },
      simulator: { taskDurationMs: 60_000 },
    });
  });
  afterAll(() => stack.close());

  it('one token at its quota is refused while another token is still served, up to the instance cap', async () => {
    stack.sim.injectFault({ path: HELD, delayMs: 60_000 });
    const watcher = stack.gateway.services.taskWatcher;
    const tenantA = wsClient(stack);
    const aIds = Array.from({ length: 6 }, (_, i) => `held-a${i}`);
    const aWatches = aIds.map((taskId) => watchOverWs(tenantA, taskId));
    // Four are accepted (their polls are out); two are refused, naming the per-credential quota.
    const refusedA = aWatches.slice(4);
    for (const watch of refusedA) expect(await endedWith(watch)).toBe('RATE_LIMITED');
    await heldBy(stack, aIds.slice(0, 4));
    expect(aWatches.slice(0, 4).every((watch) => !watch.ended)).toBe(true);
    for (const watch of refusedA) expect(statusCalls(stack, watch.taskId)).toBe(0);
    expect(watcher.pollerCount).toBe(4);

    // Another tenant is served: a real running task over SSE answers with its status at once.
    const secondary = stack.sim.tokens.secondary;
    const runB = await startRun(stack, undefined, secondary);
    const live = watchTask(stack.url, secondary, runB);
    await live.first;
    expect(live.events[0]).toMatchObject({ state: 'RUNNING' });
    // It may go on up to the instance's cap (6 = 4 + 2), and only then is refused, naming MAX_WATCHED_TASKS.
    const tenantB = wsClient(stack, { authorization: `Token ${secondary}` });
    const bHeld = watchOverWs(tenantB, 'held-b0');
    await heldBy(stack, ['held-b0']);
    const bOver = watchOverWs(tenantB, 'held-b1');
    expect(await endedWith(bOver)).toBe('RATE_LIMITED');
    expect(statusCalls(stack, 'held-b1')).toBe(0);
    expect(watcher.pollerCount).toBe(6);
    expect(watcher.watchingCredentials).toBe(2);

    // The messages say which limit was hit (the socket's error carries the resolver's message).
    const sse = watchTask(stack.url, stack.token, 'held-a9');
    await sse.done;
    expect(sse.events).toEqual([{ code: 'RATE_LIMITED' }]);

    live.stop();
    bHeld.unsubscribe();
    await Promise.all([tenantA.dispose(), tenantB.dispose()]);
    await waitFor(() => watcher.pollerCount === 0);
    expect(watcher.watchingCredentials).toBe(0);
    stack.sim.clearFaults();
  });
});

describe('unknown tasks', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { MAX_WATCHED_TASKS_PER_CREDENTIAL: '3', TASK_POLL_INTERVAL_MS: '200' },
    });
  });
  afterAll(() => stack.close());

  it('end with NOT_FOUND after one poll and free their slot at once: ten in turn through the one free slot', async () => {
    stack.sim.injectFault({ path: HELD, delayMs: 60_000 });
    const watcher = stack.gateway.services.taskWatcher;
    const client = wsClient(stack);
    // Three held watches fill this token's quota of 3: a fourth is refused before anything is polled.
    const held = ['held-0', 'held-1', 'held-2'].map((taskId) => watchOverWs(client, taskId));
    await heldBy(stack, ['held-0', 'held-1', 'held-2']);
    const over = watchOverWs(client, 'ghost-refused');
    expect(await endedWith(over)).toBe('RATE_LIMITED');
    expect(statusCalls(stack, 'ghost-refused')).toBe(0);

    // One leaves: its slot is the only free one. Ten unknown tasks in turn each get it, and each gives it back
    // with its NOT_FOUND, so none is refused.
    held[0]?.unsubscribe();
    await waitFor(() => watcher.pollerCount === 2);
    for (let i = 0; i < 10; i++) {
      const ghost = watchOverWs(client, `ghost-${i}`);
      expect(await endedWith(ghost)).toBe('NOT_FOUND');
      expect(statusCalls(stack, `ghost-${i}`)).toBe(1);
    }
    // And over SSE, the same: NOT_FOUND, one poll, slot back.
    const sse = watchTask(stack.url, stack.token, 'ghost-sse');
    await sse.done;
    expect(sse.events).toEqual([{ code: 'NOT_FOUND' }]);
    expect(statusCalls(stack, 'ghost-sse')).toBe(1);
    expect(watcher.pollerCount).toBe(2);

    for (const watch of held) watch.unsubscribe();
    await client.dispose();
    await waitFor(() => watcher.pollerCount === 0);
    expect(watcher.watchingCredentials).toBe(0);
    stack.sim.clearFaults();
  });
});

describe('the per-credential bookkeeping under a flood of tokens', () => {
  const CAP = 25;
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { MAX_WATCHED_TASKS: String(CAP), TASK_POLL_INTERVAL_MS: '200' } });
  });
  afterAll(() => stack.close());

  it(`80 tokens, one watch each: ${CAP} held, the rest refused, and nothing is kept once they leave`, async () => {
    stack.sim.injectFault({ path: HELD, delayMs: 60_000 });
    const watcher = stack.gateway.services.taskWatcher;
    const clients = Array.from({ length: 80 }, (_, i) =>
      wsClient(stack, { authorization: `Token flood-token-${i}` }),
    );
    const watches = clients.map((client, i) => watchOverWs(client, `held-${i}`));
    await waitFor(() => watches.filter((watch) => watch.ended).length === 80 - CAP);
    for (const watch of watches.filter((each) => each.ended)) {
      expect(watch.first()?.code).toBe('RATE_LIMITED');
    }
    // One entry per token that holds a task, never more than the instance's cap.
    expect(watcher.pollerCount).toBe(CAP);
    expect(watcher.watchingCredentials).toBe(CAP);

    await Promise.all(clients.map((client) => client.dispose()));
    await waitFor(() => watcher.pollerCount === 0);
    expect(watcher.watchingCredentials).toBe(0);
    stack.sim.clearFaults();
  });
});

const missing = await redisMissing();

describe.skipIf(missing !== null)('unknown tasks with Redis (shared pollers)', () => {
  const prefix = testPrefix('watch-quotas');
  let sim: Simulator;
  let instances: Instance[] = [];
  beforeAll(async () => {
    sim = await startSimulator({ rateLimits: 'relaxed' });
    const env = { MAX_WATCHED_TASKS_PER_CREDENTIAL: '1', TASK_POLL_INTERVAL_MS: '200' };
    instances = [
      await startInstance(sim, SHARED_REDIS_URL, prefix, env),
      await startInstance(sim, SHARED_REDIS_URL, prefix, env),
    ];
  });
  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.gateway.close()));
    await sim?.close();
    expect(await deleteKeys(SHARED_REDIS_URL, prefix)).toBe(0);
  });

  it('NOT_FOUND on both instances watching it, and each frees its only slot at once', async () => {
    // Two gateways on one simulator and one Redis: one polls (the lease holder), the other relays, and both end
    // with the first poll's NOT_FOUND. With a quota of one task per token, five in turn are never refused.
    const token = sim.tokens.primary;
    const [a] = instances as [Instance];
    // A held watch takes this token's one slot on instance A: another task is refused there, before any poll.
    sim.injectFault({ path: HELD, delayMs: 60_000 });
    const holder = watchTask(a.url, token, 'held-shared');
    await waitFor(() => sim.requests({ path: '/service/api/task/get_status/held-shared' }).length === 1);
    const refused = watchTask(a.url, token, 'ghost-refused');
    await refused.done;
    expect(refused.events).toEqual([{ code: 'RATE_LIMITED' }]);
    expect(sim.requests({ path: '/service/api/task/get_status/ghost-refused' })).toHaveLength(0);
    holder.stop();
    await waitFor(() => a.gateway.services.taskWatcher.pollerCount === 0);

    for (let i = 0; i < 5; i++) {
      const taskId = `ghost-shared-${i}`;
      const watches = instances.map((instance) => watchTask(instance.url, token, taskId));
      await Promise.all(watches.map((watch) => watch.done));
      for (const watch of watches) expect(watch.events).toEqual([{ code: 'NOT_FOUND' }]);
      expect(sim.requests({ path: `/service/api/task/get_status/${taskId}` }).length).toBeGreaterThan(0);
    }
    for (const { gateway } of instances) {
      expect(gateway.services.taskWatcher.pollerCount).toBe(0);
      expect(gateway.services.taskWatcher.watchingCredentials).toBe(0);
    }
    sim.clearFaults();
  });
});
