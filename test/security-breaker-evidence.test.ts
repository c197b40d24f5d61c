/**
 * Breaker evidence must be about EPMware (contract, "Robustness"): the failure of a request that was itself
 * oversized never counts, and a circuit opens only on outage failures from at least two credentials or for at least
 * two paths, so one client cannot open a circuit for the others. The front door that resets oversized requests is
 * the simulator's (a fault with minHeaderBytes), as EPMware's did with 20 KB tokens and 60 KB ids.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GatewayError } from '../src/errors.ts';
import { GatewayMetrics } from '../src/observability/metrics.ts';
import { PRIMARY_TOKEN, SECONDARY_TOKEN } from '../src/simulator/index.ts';
import { CircuitBreakers } from '../src/upstream/breaker.ts';
import { Credential } from '../src/upstream/credential.ts';
import { Epmware } from '../src/upstream/epmware.ts';
import { evidenceSource, OVERSIZED_REQUEST_BYTES } from '../src/upstream/failures.ts';
import { type Stack, startStack } from './harness.ts';

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as GatewayError,
  );

/** A front door with a 16 KB header buffer: past it, the connection is dropped without an answer. */
const FRONT_DOOR = { path: '/service/api/*', minHeaderBytes: 16 * 1024, reset: true };
const HISTORY_PATH = '/service/api/deployment/get_execution_details';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    env: { CACHE_TTL_MS: '0', UPSTREAM_TIMEOUT_MS: '10000' },
    // Three failures open a circuit here (five by default): what does not open it with three never will with five.
    upstream: { breaker: { minimumFailures: 3, cooldownMs: 60_000 } },
    logStream: { write: () => {} },
  });
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.sim.clearFaults();
  stack.sim.clearRequests();
});

/** Every circuit closed, and the other tenant's users and deployment history still answer. */
async function expectOthersServed(): Promise<void> {
  expect(stack.gateway.services.upstream.openCircuits()).toEqual([]);
  const other = new Epmware(stack.gateway.services.upstream, new Credential(SECONDARY_TOKEN));
  expect((await other.listUsers()).length).toBeGreaterThan(0);
  expect(await other.deploymentExecutions(stack.sim.fixtures.deploymentNames[0] ?? '', true)).toBeInstanceOf(
    Array,
  );
}

describe('oversized requests', () => {
  it('six from one tenant (60 KB paths, each a distinct resource) are reset by the front door and open nothing', async () => {
    stack.sim.injectFault(FRONT_DOOR);
    const credential = new Credential(PRIMARY_TOKEN);
    // Straight to the client: the edge (validation.ts) would refuse such ids before this point.
    const calls = Array.from({ length: 6 }, (_, i) =>
      failure(
        stack.gateway.services.upstream.json({
          method: 'GET',
          path: `/task/get_status/${String(i).repeat(60_000)}`,
          endpoint: 'task/get_status',
          credential,
        }),
      ),
    );
    for (const outcome of await Promise.all(calls)) expect(outcome?.code).toBe('UPSTREAM_UNAVAILABLE');
    // They did reach the front door, and it dropped them (retries included).
    const reset = stack.sim.requests({ path: '/service/api/task/get_status/*' });
    expect(reset.length).toBeGreaterThanOrEqual(6);
    expect(reset.every((request) => request.status === 0)).toBe(true);
    await expectOthersServed();
  });

  it('six made-up 20 KB tokens (six credentials) are no evidence either', async () => {
    stack.sim.injectFault(FRONT_DOOR);
    const calls = Array.from({ length: 6 }, (_, i) =>
      failure(
        new Epmware(stack.gateway.services.upstream, new Credential(String(i).repeat(20_000))).listUsers(),
      ),
    );
    for (const outcome of await Promise.all(calls)) expect(outcome?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(stack.sim.requests({ path: '/service/api/security/users' }).length).toBeGreaterThanOrEqual(6);
    await expectOthersServed();
  });

  it('the threshold: a 4,096-character token and 256 four-byte characters stay under it', () => {
    const largest = evidenceSource(
      {
        method: 'GET',
        path: '/security/users/groups',
        query: { userName: '𝔘'.repeat(256) },
        credential: new Credential('t'.repeat(4_096)),
      },
      '/some/base/service/api',
    );
    expect(largest.oversized).toBe(false);
    const oversized = evidenceSource(
      {
        method: 'GET',
        path: '/security/users',
        credential: new Credential('t'.repeat(OVERSIZED_REQUEST_BYTES)),
      },
      '/service/api',
    );
    expect(oversized.oversized).toBe(true);
  });
});

describe('how many clients the evidence comes from', () => {
  it("one credential's outage failures for one path open nothing, and the other tenant is still served", async () => {
    // Whatever makes EPMware's front door drop this one token's calls, it is not an outage of the service.
    stack.sim.injectFault({ path: HISTORY_PATH, token: PRIMARY_TOKEN, reset: true });
    const api = new Epmware(stack.gateway.services.upstream, new Credential(PRIMARY_TOKEN));
    const calls = Array.from({ length: 6 }, (_, i) => failure(api.deploymentExecutions(`D${i}`, true)));
    for (const outcome of await Promise.all(calls)) expect(outcome?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(stack.sim.requests({ path: HISTORY_PATH }).length).toBeGreaterThanOrEqual(6);
    await expectOthersServed();
  });

  it("two credentials' outage failures do open the service, and only that one", async () => {
    stack.sim.setServiceDown('deployment', true);
    try {
      const apis = [PRIMARY_TOKEN, SECONDARY_TOKEN].map(
        (token) => new Epmware(stack.gateway.services.upstream, new Credential(token)),
      );
      const calls = [0, 1, 2].map((i) =>
        failure((apis[i % 2] as Epmware).deploymentExecutions(`D${i}`, true)),
      );
      for (const outcome of await Promise.all(calls)) expect(outcome?.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(stack.gateway.services.upstream.openCircuits()).toEqual(['deployment']);
      // Open: the next call fails fast, without reaching EPMware.
      const sent = stack.sim.requests({ path: HISTORY_PATH }).length;
      expect((await failure((apis[0] as Epmware).deploymentExecutions('D9', true)))?.code).toBe(
        'UPSTREAM_UNAVAILABLE',
      );
      expect(stack.sim.requests({ path: HISTORY_PATH })).toHaveLength(sent);
    } finally {
      stack.sim.setServiceDown('deployment', false);
    }
  });
});

describe('a single-credential deployment (EPMWARE_TOKEN only)', () => {
  let single: Stack;
  beforeAll(async () => {
    single = await startStack({
      env: { CACHE_TTL_MS: '0', UPSTREAM_TIMEOUT_MS: '10000' },
      upstream: { breaker: { minimumFailures: 3, cooldownMs: 60_000 } },
      logStream: { write: () => {} },
    });
  });
  afterAll(() => single.close());

  it('still opens on an outage: its failures ask for several paths', async () => {
    single.sim.setServiceDown('task', true);
    const api = new Epmware(single.gateway.services.upstream, new Credential(single.token));
    const calls = ['11', '12', '13'].map((taskId) => failure(api.taskStatus(taskId)));
    for (const outcome of await Promise.all(calls)) expect(outcome?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(single.gateway.services.upstream.openCircuits()).toEqual(['task']);
  });
});

describe('what the breaker remembers', () => {
  it('a flood of failing credentials and paths keeps at most two of each per second of the window', () => {
    const breakers = new CircuitBreakers({ minimumFailures: 1_000_000 }, new GatewayMetrics());
    for (let i = 0; i < 10_000; i++) {
      const admission = breakers.admit('security', { credential: `c${i}`, path: `/p${i}`, oversized: false });
      if (admission) breakers.report(admission, 'outage');
    }
    expect(breakers.rememberedSources()).toBeLessThanOrEqual(5 * 10 * 4);
    expect(breakers.openServices()).toEqual([]);
  });
});
