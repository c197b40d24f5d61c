/**
 * Tokens are checked at the edge: a malformed Authorization header (or WebSocket `authorization` payload) is
 * UNAUTHENTICATED (WebSocket: close 4403) with no upstream call, and only an absent one falls back to
 * EPMWARE_TOKEN. The messages name the fix.
 */
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SECONDARY_TOKEN } from '../src/simulator/index.ts';
import { type Stack, startStack } from './harness.ts';
import { startRun, wsClient, wsEvents } from './subscription-clients.ts';

let stack: Stack;
beforeAll(async () => {
  // EPMWARE_TOKEN is set (to the other tenant's token), so any fallback would show in the simulator's log.
  stack = await startStack({
    env: { EPMWARE_TOKEN: SECONDARY_TOKEN, TASK_POLL_INTERVAL_MS: '100' },
    simulator: { taskDurationMs: 600 },
    logStream: { write: () => {} },
  });
});
afterAll(() => stack.close());
beforeEach(() => stack.sim.clearRequests());

async function query(authorization: string | undefined) {
  const response = await request(stack.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(authorization === undefined ? {} : { authorization }),
    },
    body: JSON.stringify({ query: '{ users { totalCount } }' }),
  });
  return (await response.body.json()) as {
    data?: unknown;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  };
}

describe('HTTP', () => {
  const malformed: Array<[string, RegExp]> = [
    ['Token', /no token after its scheme/],
    ['Bearer   ', /no token after its scheme/],
    ['Basic dXNlcjpwYXNz', /Only the Token and Bearer schemes/],
    ['Token a b', /more than one token/],
    ['Token caf\u00e9', /visible ASCII/],
    ['', /empty/],
  ];
  for (const [value, message] of malformed) {
    it(`${JSON.stringify(value)} is UNAUTHENTICATED, nothing sent, no fallback to EPMWARE_TOKEN`, async () => {
      const answer = await query(value);
      expect(answer.data ?? null).toBeNull();
      expect(answer.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(answer.errors?.[0]?.message).toMatch(message);
      expect(stack.sim.requests()).toEqual([]);
    });
  }

  it('a token without a scheme gets a message naming both accepted forms, not "No EPMware token"', async () => {
    const answer = await query(stack.token);
    expect(answer.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const text = answer.errors?.[0]?.message ?? '';
    expect(text).toContain('Authorization: Token <t>');
    expect(text).toContain('Bearer <t>');
    expect(text).not.toMatch(/No EPMware token/);
    expect(text).not.toContain(stack.token);
    expect(stack.sim.requests()).toEqual([]);
  });

  it('only an absent header falls back to EPMWARE_TOKEN; a well-formed one is used as sent', async () => {
    expect((await query(undefined)).errors).toBeUndefined();
    expect((await query(`bearer ${stack.token}`)).errors).toBeUndefined();
    expect(stack.sim.requests().map((r) => r.token)).toEqual([SECONDARY_TOKEN, stack.token]);
  });

  it('the download route answers 401 for a malformed header, with no upstream call', async () => {
    const response = await request(`${stack.origin}/exports/${stack.sim.fixtures.exportTaskId}/file`, {
      headers: { authorization: 'Token a b' },
    });
    expect(response.statusCode).toBe(401);
    expect(await response.body.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(stack.sim.requests()).toEqual([]);
  });
});

describe('WebSocket', () => {
  it('a malformed token is closed with 4403 naming connectionParams, while another client reads undisturbed', async () => {
    const taskId = await startRun(stack);
    stack.sim.clearRequests();
    const good = wsClient(stack);
    const bad = wsClient(stack, { authorization: 'Token bad\u0001token' });
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      bad.on('closed', (event) => resolve(event as { code: number; reason: string })),
    );
    const [goodEvents, badOutcome] = await Promise.all([
      wsEvents(good, taskId),
      Promise.allSettled([1, 2, 3].map(() => wsEvents(bad, stack.sim.fixtures.succeededTaskId))),
    ]);
    await Promise.all([good.dispose(), bad.dispose()]);

    expect(goodEvents.at(-1)?.data?.taskUpdates.state).toBe('SUCCEEDED');
    expect(goodEvents.every((event) => event.errors === undefined)).toBe(true);
    for (const outcome of badOutcome) expect(outcome.status).toBe('rejected');
    const close = await closed;
    expect(close.code).toBe(4403);
    expect(close.reason).toContain("connectionParams: { authorization: 'Token <t>' }");
    // Every upstream request came from the good client: none from the bad one, none with EPMWARE_TOKEN.
    const requests = stack.sim.requests();
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((r) => r.token === stack.token)).toBe(true);
    expect(requests.every((r) => r.path === `/service/api/task/get_status/${taskId}`)).toBe(true);
  });

  it('a non-string authorization payload is malformed too (4403), not "absent"', async () => {
    const bad = wsClient(stack, { authorization: 42 });
    const closed = new Promise<number>((resolve) =>
      bad.on('closed', (event) => resolve((event as { code: number }).code)),
    );
    await expect(wsEvents(bad, stack.sim.fixtures.succeededTaskId)).rejects.toBeDefined();
    expect(await closed).toBe(4403);
    expect(stack.sim.requests()).toEqual([]);
  });
});
