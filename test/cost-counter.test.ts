/**
 * Demand control, the runtime counter: past MAX_UPSTREAM_CALLS_PER_OPERATION an operation's further upstream calls
 * are refused before they reach EPMware (asserted on the simulator's request log), each request counts alone, and
 * a subscription's events each get the whole allowance.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createContext } from '../src/context.ts';
import { findGatewayError } from '../src/errors.ts';
import { type Stack, startStack } from './harness.ts';
import { sseClient, startRun } from './subscription-clients.ts';

const LIMIT = 4;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    env: { MAX_UPSTREAM_CALLS_PER_OPERATION: String(LIMIT), TASK_POLL_INTERVAL_MS: '100' },
    simulator: { taskDurationMs: 800 },
  });
});
afterAll(() => stack.close());
beforeEach(() => stack.sim.clearRequests());

const statusCalls = () =>
  stack.sim.requests({ method: 'GET' }).filter((call) => call.path.includes('get_status'));

describe('the per-operation counter', () => {
  it('refuses the calls past the limit without sending them, and counts each request alone', async () => {
    const context = () =>
      createContext(stack.gateway.services, {
        authorization: `Token ${stack.token}`,
        origin: stack.origin,
        clientAddress: '127.0.0.1',
      });
    const taskId = stack.sim.fixtures.succeededTaskId;
    const first = context();
    const outcomes: string[] = [];
    for (let call = 0; call < LIMIT + 2; call++) {
      try {
        await first.epmware().taskStatus(taskId);
        outcomes.push('ok');
      } catch (error) {
        outcomes.push(findGatewayError(error)?.code ?? 'unexpected');
      }
    }
    expect(outcomes).toEqual([
      ...Array(LIMIT).fill('ok'),
      'GRAPHQL_VALIDATION_FAILED',
      'GRAPHQL_VALIDATION_FAILED',
    ]);
    expect(first.upstreamCalls.made).toBe(LIMIT);
    expect(statusCalls()).toHaveLength(LIMIT);

    // Another request (another context) has its own allowance.
    await context().epmware().taskStatus(taskId);
    expect(statusCalls()).toHaveLength(LIMIT + 1);
  });

  it('says which limit refused the call', async () => {
    const context = createContext(stack.gateway.services, {
      authorization: `Token ${stack.token}`,
      origin: stack.origin,
      clientAddress: '127.0.0.1',
    });
    for (let call = 0; call < LIMIT; call++) await context.epmware().listGroups();
    const refused = await context
      .epmware()
      .taskLog('1')
      .then(
        () => undefined,
        (error: unknown) => findGatewayError(error),
      );
    expect(refused?.message).toContain(`made its ${LIMIT} upstream calls (MAX_UPSTREAM_CALLS_PER_OPERATION)`);
    expect(refused?.message).toContain('task/get_log_file');
    expect(stack.sim.requests({ path: '/service/api/task/get_log_file/1' })).toHaveLength(0);
  });

  it('gives each subscription event the whole allowance: three logs an event, many events', async () => {
    const taskId = await startRun(stack);
    const client = sseClient(stack);
    const events: Array<{ data?: { taskUpdates: { state: string; a: string | null } }; errors?: unknown[] }> =
      [];
    try {
      for await (const event of client.iterate<{ taskUpdates: { state: string; a: string | null } }>({
        query: `subscription ($id: ID!) { taskUpdates(taskId: $id) { state percentCompleted a: log b: log c: log } }`,
        variables: { id: taskId },
      })) {
        events.push(event as (typeof events)[number]);
      }
    } finally {
      client.dispose();
    }
    // Two events already make six log calls against a limit of four: without a fresh allowance per event, the
    // second event's logs would be refused. Every event has its logs.
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.every((event) => event.errors === undefined)).toBe(true);
    expect(events.every((event) => typeof event.data?.taskUpdates.a === 'string')).toBe(true);
    expect(events.at(-1)?.data?.taskUpdates.state).toBe('SUCCEEDED');
    // The three logs of one event are identical reads in flight: EPMware sees one request (coalescing), the
    // counter three.
    const logCalls = stack.sim.requests({ path: `/service/api/task/get_log_file/${taskId}` });
    expect(logCalls.length).toBeGreaterThanOrEqual(events.length);
  });
});
