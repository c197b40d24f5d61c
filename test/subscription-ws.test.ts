/**
 * Subscription.taskUpdates over graphql-transport-ws (the real graphql-ws client on `ws`): auth from the
 * connection_init payload, the same validation and error codes as HTTP, tenants kept apart, sockets that drop,
 * and a gateway shutting down under open subscriptions (SSE and WebSocket).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PRIMARY_TOKEN } from '../src/simulator/index.ts';
import { type Stack, startStack } from './harness.ts';
import {
  gaugeValue,
  pollsAfterLastWatcher,
  progressOf,
  sleep,
  sseClient,
  startRun,
  statusCalls,
  TASK_UPDATES,
  type TaskEvent,
  wsClient,
  wsEvents,
} from './subscription-clients.ts';

const INTERVAL_MS = 100;
const TASK_MS = 800;

/** The close code of a socket graphql-ws closed on us, or null when it stayed open. */
function closeCode(client: ReturnType<typeof wsClient>): Promise<number> {
  return new Promise((resolve) => {
    client.on('closed', (event) => resolve((event as { code: number }).code));
  });
}

describe('taskUpdates over graphql-transport-ws', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { TASK_POLL_INTERVAL_MS: String(INTERVAL_MS), UPSTREAM_RATE_LIMIT_PER_MIN: '100000' },
      simulator: { taskDurationMs: TASK_MS },
    });
  });
  afterAll(() => stack.close());
  const metrics = () => stack.gateway.services.metrics;

  it('streams progress with the token from connection_init and completes after SUCCEEDED', async () => {
    // Longer than the others: on a loaded machine the socket may open late into an 800 ms task.
    stack.sim.configure({ taskDurationMs: 3 * TASK_MS });
    const taskId = await startRun(stack);
    const client = wsClient(stack);
    const events = await wsEvents(client, taskId);
    await client.dispose();

    expect(events.every((event) => event.errors === undefined)).toBe(true);
    const { states, percents, last } = progressOf(events);
    expect(states[0]).toBe('RUNNING');
    expect(last).toMatchObject({ taskId, state: 'SUCCEEDED', percentCompleted: 100 });
    for (let i = 1; i < percents.length; i++)
      expect(percents[i]).toBeGreaterThanOrEqual(percents[i - 1] ?? 0);
    expect(percents.length).toBeGreaterThanOrEqual(3);
    const [call] = stack.sim.requests({ path: `/service/api/task/get_status/${taskId}` });
    expect(call?.token).toBe(stack.token);
  });

  it('accepts "Bearer <t>" and a header-style "Authorization" key', async () => {
    const client = wsClient(stack, { Authorization: `Bearer ${stack.token}` });
    const events = await wsEvents(client, stack.sim.fixtures.failedTaskId);
    await client.dispose();
    expect(events).toHaveLength(1);
    expect(events[0]?.data?.taskUpdates.state).toBe('FAILED');
  });

  it('closes a socket without a token with 4403 when no EPMWARE_TOKEN is configured', async () => {
    const client = wsClient(stack, {});
    const closed = closeCode(client);
    await expect(wsEvents(client, stack.sim.fixtures.runningTaskId)).rejects.toBeDefined();
    expect(await closed).toBe(4403);
    expect(
      stack.sim.requests({ path: `/service/api/task/get_status/${stack.sim.fixtures.runningTaskId}` }),
    ).toEqual([]);
  });

  it("another tenant's token cannot see the task: NOT_FOUND, polled with that token", async () => {
    const taskId = stack.sim.fixtures.succeededTaskId;
    const secondary = stack.sim.tokens.secondary;
    const client = wsClient(stack, { authorization: `Token ${secondary}` });
    const events = await wsEvents(client, taskId);
    await client.dispose();
    expect(events).toHaveLength(1);
    expect(events[0]?.data).toBeNull();
    expect(events[0]?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const tokens = stack.sim
      .requests({ path: `/service/api/task/get_status/${taskId}` })
      .map((call) => call.token);
    expect(tokens).toContain(secondary);
  });

  it('closing the socket mid-stream stops the poller', async () => {
    stack.sim.configure({ taskDurationMs: 60_000 });
    const taskId = await startRun(stack);
    const client = wsClient(stack);
    const stream = client.iterate({ query: TASK_UPDATES, variables: { taskId } });
    expect((await stream.next()).value).toMatchObject({
      data: { taskUpdates: { taskId, state: 'RUNNING' } },
    });
    await sleep(2 * INTERVAL_MS);
    expect(await gaugeValue(metrics().activePollers)).toBe(1);
    expect(await gaugeValue(metrics().activeSubscriptions)).toBe(1);
    client.terminate();
    const after = await pollsAfterLastWatcher(stack, taskId, INTERVAL_MS);
    expect(after.subscriptions).toBe(0);
    expect(after.late).toEqual([]);
  });

  it('validates and codes errors as HTTP does (validation, parse), without closing the socket', async () => {
    const client = wsClient(stack);
    const invalid = client.iterate({ query: 'subscription { taskUpdates(taskId: "1") { noSuchField } }' });
    await expect(invalid.next()).rejects.toSatisfy((errors: unknown) => {
      const [error] = errors as Array<{ extensions?: Record<string, unknown> }>;
      return error?.extensions?.code === 'GRAPHQL_VALIDATION_FAILED' && error.extensions.http === undefined;
    });
    const unparsable = client.iterate({ query: 'subscription {' });
    await expect(unparsable.next()).rejects.toSatisfy(
      (errors: unknown) =>
        (errors as Array<{ extensions?: Record<string, unknown> }>)[0]?.extensions?.code ===
        'GRAPHQL_PARSE_FAILED',
    );
    // The same socket still serves queries.
    const query = client.iterate<{ task: { state: string } }>({
      query: 'query ($id: ID!) { task(taskId: $id) { state } }',
      variables: { id: stack.sim.fixtures.succeededTaskId },
    });
    expect((await query.next()).value).toEqual({ data: { task: { state: 'SUCCEEDED' } } });
    await client.dispose();
  });

  it('refuses a browser socket from a foreign origin (4403)', async () => {
    const socket = new WebSocket(stack.url.href.replace(/^http/, 'ws'), 'graphql-transport-ws', {
      headers: { origin: 'https://evil.example' },
    });
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(
      JSON.stringify({ type: 'connection_init', payload: { authorization: `Token ${stack.token}` } }),
    );
    const code = await new Promise<number>((resolve) => socket.once('close', resolve));
    expect(code).toBe(4403);
  });
});

describe('gateway shutdown with open subscriptions', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      // EPMWARE_TOKEN stands in for a WebSocket that sends none.
      env: {
        TASK_POLL_INTERVAL_MS: String(INTERVAL_MS),
        UPSTREAM_RATE_LIMIT_PER_MIN: '100000',
        EPMWARE_TOKEN: PRIMARY_TOKEN,
      },
      simulator: { taskDurationMs: 60_000 },
    });
  });
  afterAll(() => stack.sim.close());

  it('ends SSE and WebSocket subscriptions without complete (WebSocket 1012); pollers stop', async () => {
    const taskId = await startRun(stack);
    const sse = sseClient(stack).iterate<TaskEvent['data']>({ query: TASK_UPDATES, variables: { taskId } });
    const ws = wsClient(stack, {});
    const wsClosed = closeCode(ws);
    const wsStream = ws.iterate<TaskEvent['data']>({ query: TASK_UPDATES, variables: { taskId } });
    expect((await sse.next()).done).toBe(false);
    expect((await wsStream.next()).done).toBe(false);
    expect(await gaugeValue(stack.gateway.services.metrics.activeSubscriptions)).toBe(2);

    const closing = stack.gateway.close();
    /** How a stream ends: `complete` (the client's iterator is done) or cut (it throws). */
    const ending = async (stream: AsyncIterator<unknown>): Promise<'complete' | 'cut'> => {
      try {
        for (let next = await stream.next(); !next.done; next = await stream.next());
        return 'complete';
      } catch {
        return 'cut';
      }
    };
    // The task is still running: neither client is told it is over, so with retries both would reconnect.
    expect(await Promise.all([ending(sse), ending(wsStream)])).toEqual(['cut', 'cut']);
    await closing;
    expect(await wsClosed).toBe(1012);
    expect(await gaugeValue(stack.gateway.services.metrics.activePollers)).toBe(0);
    expect(await gaugeValue(stack.gateway.services.metrics.activeSubscriptions)).toBe(0);
    const calls = statusCalls(stack, taskId);
    await sleep(3 * INTERVAL_MS);
    expect(statusCalls(stack, taskId)).toBe(calls);
  });
});
