/**
 * Subscription.taskUpdates over Yoga's SSE (the real graphql-sse client), and the shared poller behind it:
 * what the client sees, and what the simulator received (get_status calls per task).
 */
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './harness.ts';
import {
  gaugeValue,
  pollsAfterLastWatcher,
  progressOf,
  sleep,
  sseClient,
  sseEvents,
  startRun,
  statusCalls,
  TASK_UPDATES,
  waitFor,
} from './subscription-clients.ts';

const INTERVAL_MS = 100;
const TASK_MS = 800;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    env: { TASK_POLL_INTERVAL_MS: String(INTERVAL_MS), UPSTREAM_RATE_LIMIT_PER_MIN: '100000' },
    simulator: { taskDurationMs: TASK_MS },
  });
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.sim.clearFaults();
  stack.sim.configure({ taskDurationMs: TASK_MS });
});

const metrics = () => stack.gateway.services.metrics;

describe('taskUpdates over SSE', () => {
  it('emits the current task at once, never goes backwards, and completes after SUCCEEDED', async () => {
    const taskId = await startRun(stack);
    const events = await sseEvents(stack, taskId);

    expect(events.every((event) => event.errors === undefined)).toBe(true);
    const { states, percents, last } = progressOf(events);
    expect(events[0]?.data?.taskUpdates.taskId).toBe(taskId);
    expect(states[0]).toBe('RUNNING');
    expect(last).toMatchObject({ taskId, state: 'SUCCEEDED', percentCompleted: 100 });
    expect(states.filter((state) => state !== 'RUNNING')).toEqual(['SUCCEEDED']);
    for (let i = 1; i < percents.length; i++)
      expect(percents[i]).toBeGreaterThanOrEqual(percents[i - 1] ?? 0);
    // Several intermediate steps were seen, each event a change from the one before.
    expect(new Set(percents).size).toBe(percents.length);
    expect(percents.length).toBeGreaterThanOrEqual(3);
    // The poller stopped with the terminal state: no poll after it.
    const calls = statusCalls(stack, taskId);
    await sleep(3 * INTERVAL_MS);
    expect(statusCalls(stack, taskId)).toBe(calls);
    expect(await gaugeValue(metrics().activePollers)).toBe(0);
    expect(await gaugeValue(metrics().activeSubscriptions)).toBe(0);
  });

  it('the first event arrives before the task changes (at once, from one poll)', async () => {
    stack.sim.configure({ taskDurationMs: 60_000 });
    const taskId = await startRun(stack);
    const client = sseClient(stack);
    const stream = client.iterate({ query: TASK_UPDATES, variables: { taskId } });
    const first = await stream.next();
    expect(first.value).toMatchObject({ data: { taskUpdates: { taskId, state: 'RUNNING' } } });
    expect(statusCalls(stack, taskId)).toBe(1);
    await stream.return?.();
    client.dispose();
  });

  it('a failing deployment ends FAILED with its message, then completes', async () => {
    const taskId = await startRun(stack, stack.sim.fixtures.failingDeploymentName);
    const events = await sseEvents(stack, taskId);
    const { states, last } = progressOf(events);
    expect(last?.state).toBe('FAILED');
    expect(last?.message).toBeTruthy();
    expect(last?.message).toBe(stack.sim.state().task(taskId)?.message);
    expect(states.filter((state) => state !== 'RUNNING')).toEqual(['FAILED']);
  });

  it('an already finished task gives one event and completes', async () => {
    const events = await sseEvents(stack, stack.sim.fixtures.succeededTaskId);
    expect(events).toHaveLength(1);
    expect(events[0]?.data?.taskUpdates.state).toBe('SUCCEEDED');
  });

  it('an unknown task ends with NOT_FOUND', async () => {
    const events = await sseEvents(stack, '987654321');
    expect(events).toHaveLength(1);
    expect(events[0]?.data).toBeNull();
    expect(events[0]?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(statusCalls(stack, '987654321')).toBe(1);
  });

  it('without a token: UNAUTHENTICATED and no upstream call', async () => {
    const before = stack.sim.requests().length;
    const events = await sseEvents(stack, stack.sim.fixtures.runningTaskId, null);
    expect(events[0]?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(stack.sim.requests().length).toBe(before);
  });

  it('50 subscribers on one task cost at most 2x the get_status calls of one', async () => {
    const single = await startRun(stack);
    const singleEvents = await sseEvents(stack, single);
    const many = await startRun(stack);
    const manyEvents = await Promise.all(Array.from({ length: 50 }, () => sseEvents(stack, many)));

    expect(progressOf(singleEvents).last?.state).toBe('SUCCEEDED');
    for (const events of manyEvents) expect(progressOf(events).last?.state).toBe('SUCCEEDED');
    const singleCalls = statusCalls(stack, single);
    const manyCalls = statusCalls(stack, many);
    expect(singleCalls).toBeGreaterThan(0);
    // On a loaded machine some of the 50 connect only after the task ended: each of those starts a poller of its
    // own that polls once and sees the terminal state (their stream is that one event). Everyone else shared one.
    const lateJoiners = manyEvents.filter((events) => events.length === 1).length;
    expect(manyCalls).toBeLessThanOrEqual(2 * singleCalls + lateJoiners);
  });

  it('stops polling within one interval after the last subscriber leaves', async () => {
    stack.sim.configure({ taskDurationMs: 60_000 });
    const taskId = await startRun(stack);
    const clients = [sseClient(stack), sseClient(stack), sseClient(stack)];
    const streams = clients.map((client) => client.iterate({ query: TASK_UPDATES, variables: { taskId } }));
    await Promise.all(streams.map((stream) => stream.next()));
    await sleep(3 * INTERVAL_MS);
    expect(await gaugeValue(metrics().activePollers)).toBe(1);
    expect(await gaugeValue(metrics().activeSubscriptions)).toBe(3);
    // Two leave: the poller goes on for the third.
    await streams[0]?.return?.();
    await streams[1]?.return?.();
    const whileOne = statusCalls(stack, taskId);
    await sleep(3 * INTERVAL_MS);
    expect(statusCalls(stack, taskId)).toBeGreaterThan(whileOne);
    // The last one leaves.
    await streams[2]?.return?.();
    await waitFor(async () => (await gaugeValue(metrics().activePollers)) === 0);
    const leftAt = Date.now();
    const late = () =>
      stack.sim
        .requests({ path: `/service/api/task/get_status/${taskId}` })
        .filter((call) => call.at > leftAt + INTERVAL_MS + 50);
    await sleep(5 * INTERVAL_MS);
    expect(late()).toEqual([]);
    expect(await gaugeValue(metrics().activeSubscriptions)).toBe(0);
    for (const client of clients) client.dispose();
  });

  it('a late subscriber gets the latest state at once, from the poller and not from an upstream call', async () => {
    stack.sim.configure({ taskDurationMs: 60_000 });
    const taskId = await startRun(stack);
    const path = `/service/api/task/get_status/${taskId}`;
    const first = sseClient(stack).iterate({ query: TASK_UPDATES, variables: { taskId } });
    const seen = await first.next();
    // From now on every get_status fails: only the poller's memory can answer the newcomer.
    stack.sim.injectFault({ path, status: 503 });
    const late = sseClient(stack).iterate({ query: TASK_UPDATES, variables: { taskId } });
    const event = await late.next();
    expect(event.value).toEqual(seen.value);
    expect(event.value).toMatchObject({ data: { taskUpdates: { taskId, state: 'RUNNING' } } });
    stack.sim.clearFaults();
    await Promise.all([first.return?.(), late.return?.()]);
  });

  it('aborting the SSE request mid-stream stops the poller', async () => {
    stack.sim.configure({ taskDurationMs: 60_000 });
    const taskId = await startRun(stack);
    const abort = new AbortController();
    const response = await request(stack.url, {
      method: 'POST',
      headers: {
        accept: 'text/event-stream',
        'content-type': 'application/json',
        authorization: `Token ${stack.token}`,
      },
      body: JSON.stringify({ query: TASK_UPDATES, variables: { taskId } }),
      signal: abort.signal,
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/event-stream');
    // Read without for-await: leaving that loop would destroy the stream, and this test aborts it on purpose.
    const chunks = response.body[Symbol.asyncIterator]();
    let text = '';
    while (!text.includes('event: next')) text += String((await chunks.next()).value);
    expect(text).toContain(`"taskId":"${taskId}"`);
    await sleep(2 * INTERVAL_MS);
    expect(await gaugeValue(metrics().activePollers)).toBe(1);
    abort.abort();
    const after = await pollsAfterLastWatcher(stack, taskId, INTERVAL_MS);
    expect(after.subscriptions).toBe(0);
    expect(after.late).toEqual([]);
  });

  it('transient upstream errors back off and retry without ending the stream', async () => {
    const taskId = await startRun(stack);
    const path = `/service/api/task/get_status/${taskId}`;
    const client = sseClient(stack);
    const stream = client.iterate({ query: TASK_UPDATES, variables: { taskId } });
    await stream.next();
    stack.sim.injectFault({ path, status: 503, times: 2, message: 'Service temporarily unavailable' });
    const events = [];
    for await (const event of stream) events.push(event);
    client.dispose();
    expect(events.every((event) => !('errors' in event))).toBe(true);
    expect(progressOf(events as never).last?.state).toBe('SUCCEEDED');
    expect(stack.sim.requests({ path }).filter((call) => call.status === 503)).toHaveLength(2);
  });

  it("polls go upstream with the subscriber's own token", async () => {
    const taskId = stack.sim.fixtures.succeededTaskId;
    stack.sim.clearRequests();
    await sseEvents(stack, taskId);
    const [call] = stack.sim.requests({ path: `/service/api/task/get_status/${taskId}` });
    expect(call?.token).toBe(stack.token);
  });
});
