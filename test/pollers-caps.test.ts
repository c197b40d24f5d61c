/**
 * Bounded task pollers (issue #11 item 5): a per-socket cap on open operations, a global cap on pollers, and a
 * stopped poller that withdraws its poll still waiting in the budget queue. Real graphql-ws and graphql-sse
 * clients over loopback; what EPMware saw is read from the simulator's request log.
 */
import type { Client as WsClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_OPERATIONS_PER_SOCKET } from '../src/transports/websocket.ts';
import { type Stack, startStack } from './harness.ts';
import {
  gaugeValue,
  sleep,
  sseEvents,
  startRun,
  statusCalls,
  TASK_UPDATES,
  type TaskEvent,
  waitFor,
  wsClient,
} from './subscription-clients.ts';

const INTERVAL_MS = 100;

/** Opens one subscription and reports its first message: an event, or the error that refused it. */
type FirstMessage = TaskEvent | { refused: unknown };

function firstMessage(
  client: WsClient,
  taskId: string,
): { first: Promise<FirstMessage>; seen: () => FirstMessage | undefined; unsubscribe: () => void } {
  let unsubscribe = () => {};
  let seen: FirstMessage | undefined;
  const first = new Promise<FirstMessage>((resolve) => {
    unsubscribe = client.subscribe<TaskEvent['data']>(
      { query: TASK_UPDATES, variables: { taskId } },
      {
        next: (event) => {
          seen ??= event as TaskEvent;
          resolve(event as TaskEvent);
        },
        error: (error) => {
          seen ??= { refused: error };
          resolve({ refused: error });
        },
        complete: () => {},
      },
    );
  });
  return { first, seen: () => seen, unsubscribe };
}

/**
 * The code a subscription was refused with: the socket cap answers with an `error` message (the operation never
 * started), the poller cap with a `next` carrying the resolver's error (then `complete`).
 */
function refusalCode(message: FirstMessage): unknown {
  if (!('refused' in message)) return message.errors?.[0]?.extensions?.code;
  const errors = message.refused as Array<{ extensions?: { code?: unknown } }>;
  return Array.isArray(errors) ? errors[0]?.extensions?.code : undefined;
}

describe('per-socket cap', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { TASK_POLL_INTERVAL_MS: String(INTERVAL_MS), UPSTREAM_RATE_LIMIT_PER_MIN: '100000' },
      simulator: { taskDurationMs: 60_000 },
    });
  });
  afterAll(() => stack.close());

  it(`400 subscriptions on one socket: ${MAX_OPERATIONS_PER_SOCKET} stream, the rest get RATE_LIMITED, the socket stays usable`, async () => {
    const taskId = await startRun(stack);
    const client = wsClient(stack);
    const opened = Array.from({ length: 400 }, () => firstMessage(client, taskId));
    const firsts = await Promise.all(opened.map((each) => each.first));

    const streaming = firsts.filter((message) => refusalCode(message) === undefined);
    const refused = firsts.filter((message) => 'refused' in message);
    expect(streaming).toHaveLength(MAX_OPERATIONS_PER_SOCKET);
    for (const event of streaming) {
      expect((event as TaskEvent).data?.taskUpdates).toMatchObject({ taskId, state: 'RUNNING' });
    }
    expect(refused).toHaveLength(400 - MAX_OPERATIONS_PER_SOCKET);
    for (const message of refused) expect(refusalCode(message)).toBe('RATE_LIMITED');
    // All of them share one poller; the refused ones started nothing.
    expect(stack.gateway.services.taskWatcher.pollerCount).toBe(1);
    expect(await gaugeValue(stack.gateway.services.metrics.activeSubscriptions)).toBe(
      MAX_OPERATIONS_PER_SOCKET,
    );

    // The same socket still works: free one place, then a query and a new subscription both go through.
    opened[firsts.indexOf(streaming[0] as TaskEvent)]?.unsubscribe();
    await waitFor(
      async () =>
        (await gaugeValue(stack.gateway.services.metrics.activeSubscriptions)) ===
        MAX_OPERATIONS_PER_SOCKET - 1,
    );
    const typename = await new Promise<unknown>((resolve, reject) => {
      client.subscribe({ query: '{ __typename }' }, { next: resolve, error: reject, complete: () => {} });
    });
    expect(typename).toEqual({ data: { __typename: 'Query' } });
    const again = firstMessage(client, taskId);
    expect(await again.first).toMatchObject({ data: { taskUpdates: { taskId } } });

    await client.dispose();
    await waitFor(async () => (await gaugeValue(stack.gateway.services.metrics.activePollers)) === 0);
    expect(await gaugeValue(stack.gateway.services.metrics.activeSubscriptions)).toBe(0);
  });
});

describe('global poller cap', () => {
  const MAX_POLLERS = 30;
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { TASK_POLL_INTERVAL_MS: String(INTERVAL_MS), UPSTREAM_RATE_LIMIT_PER_MIN: '100000' },
      tasks: { maxPollers: MAX_POLLERS },
    });
  });
  afterAll(() => stack.close());

  it('flooded with 90 tasks over three sockets: 30 pollers, 60 RATE_LIMITED, nothing polled for the refused', async () => {
    // Every poll hangs, so each accepted watch keeps its poller for the whole test.
    stack.sim.injectFault({ path: '/service/api/task/get_status/*', delayMs: 20_000 });
    const clients = [wsClient(stack), wsClient(stack), wsClient(stack)];
    const taskIds = Array.from({ length: 90 }, (_, i) => `flood-${i}`);
    const opened = taskIds.map((taskId, i) => firstMessage(clients[i % 3] as WsClient, taskId));
    const watcher = stack.gateway.services.taskWatcher;

    const refused = () => opened.filter((each) => each.seen() !== undefined);
    await waitFor(() => refused().length === 90 - MAX_POLLERS);
    for (const each of refused()) expect(refusalCode(each.seen() as FirstMessage)).toBe('RATE_LIMITED');
    const refusedIds = taskIds.filter((_, i) => opened[i]?.seen() !== undefined);
    expect(watcher.pollerCount).toBe(MAX_POLLERS);
    // EPMware saw polls only for accepted tasks, at most one each (some still wait for one of the 16 connections).
    const polls = () => stack.sim.requests({ path: '/service/api/task/get_status/*' });
    await waitFor(() => polls().length > 0);
    expect(polls().length).toBeLessThanOrEqual(MAX_POLLERS);
    expect(new Set(polls().map((call) => call.path)).size).toBe(polls().length);
    for (const taskId of refusedIds) expect(statusCalls(stack, taskId)).toBe(0);

    // A task already watched still takes subscribers (no new poller); SSE is covered by the same cap.
    const accepted = taskIds.find((taskId) => !refusedIds.includes(taskId)) ?? '';
    const before = watcher.pollerCount;
    const joined = firstMessage(clients[0] as WsClient, accepted);
    await waitFor(async () => (await gaugeValue(stack.gateway.services.metrics.activeSubscriptions)) === 31);
    expect(joined.seen()).toBeUndefined();
    expect(watcher.pollerCount).toBe(before);
    const sse = await sseEvents(stack, 'flood-sse');
    expect(sse[0]?.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(statusCalls(stack, 'flood-sse')).toBe(0);

    await Promise.all(clients.map((client) => client.dispose()));
    await waitFor(() => watcher.pollerCount === 0);
    expect(await gaugeValue(stack.gateway.services.metrics.activePollers)).toBe(0);
    stack.sim.clearFaults();
  });
});

describe('a stopped poller sends nothing more', () => {
  const WINDOW_MS = 1_000;
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: {
        TASK_POLL_INTERVAL_MS: String(INTERVAL_MS),
        UPSTREAM_RATE_LIMIT_PER_MIN: '2',
        CACHE_TTL_MS: '0',
      },
      upstream: { budgetWindowMs: WINDOW_MS },
      simulator: { taskDurationMs: 60_000 },
    });
  });
  afterAll(() => stack.close());

  it('a poll waiting in the budget queue is withdrawn when its last subscriber leaves', async () => {
    const taskId = await startRun(stack);
    const { metrics } = stack.gateway.services;
    // Spend the whole budget (2 requests per window) on interactive reads.
    for (const query of ['{ users { totalCount } }', '{ groups { totalCount } }']) {
      expect((await stack.graphql(query)).errors).toBeUndefined();
    }
    const client = wsClient(stack);
    const watch = firstMessage(client, taskId);
    await waitFor(async () => (await queued(metrics.budgetQueueLength)) === 1);

    watch.unsubscribe();
    // The claim leaves the queue at once, not when its slot comes.
    await waitFor(async () => (await queued(metrics.budgetQueueLength)) === 0);
    expect(await gaugeValue(metrics.activePollers)).toBe(0);
    // Past the window, slots are free again: an interactive read goes through, and still no poll ever went out.
    await sleep(WINDOW_MS + 4 * INTERVAL_MS);
    expect((await stack.graphql('{ users { totalCount } }')).errors).toBeUndefined();
    await sleep(2 * INTERVAL_MS);
    expect(statusCalls(stack, taskId)).toBe(0);
    await client.dispose();
  });
});

/** Background polls waiting for a budget slot. */
async function queued(gauge: Stack['gateway']['services']['metrics']['budgetQueueLength']): Promise<number> {
  const { values } = await gauge.get();
  return values.find((value) => value.labels.priority === 'background')?.value ?? 0;
}
