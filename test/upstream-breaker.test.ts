/**
 * The circuit breaker: after repeated failures calls fail fast with UPSTREAM_UNAVAILABLE (nothing reaches
 * EPMware) for a cool-down, then one probe goes through; its success closes the circuit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayError } from '../src/errors.ts';
import { Credential } from '../src/upstream/credential.ts';
import { Epmware } from '../src/upstream/epmware.ts';
import { type Stack, startStack } from './harness.ts';

const USERS = '/service/api/security/users';
// Longer than the backoff before a retry (up to 800 ms), so the retry that follows the opening failure is refused.
const COOLDOWN_MS = 1_000;

describe('circuit breaker', () => {
  let stack: Stack;
  let api: Epmware;
  beforeAll(async () => {
    stack = await startStack({
      env: { CACHE_TTL_MS: '0', UPSTREAM_TIMEOUT_MS: '5000' },
      upstream: { breaker: { failureThreshold: 3, cooldownMs: COOLDOWN_MS } },
    });
    api = new Epmware(stack.gateway.services.upstream, new Credential(stack.token));
  });
  afterAll(() => stack.close());

  const circuitGauge = async () =>
    (await stack.gateway.services.metrics.registry.getSingleMetric('gateway_upstream_circuit_open')?.get())
      ?.values[0]?.value;
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('opens after repeated failures, fails fast during the cool-down, and a successful probe closes it', async () => {
    stack.sim.injectFault({ path: USERS, method: 'GET', status: 503 });
    const first = await stack.graphql('{ users { totalCount } }');
    expect(first.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    // The third consecutive failure opened the circuit: the fourth attempt (a retry) never left the gateway.
    expect(stack.sim.requests({ path: USERS })).toHaveLength(3);
    expect(stack.gateway.services.upstream.isCircuitOpen()).toBe(true);
    expect(await circuitGauge()).toBe(1);

    // Open: any call, to any endpoint, fails fast without reaching EPMware.
    stack.sim.clearRequests();
    const started = Date.now();
    const during = await api.listGroups().catch((error: unknown) => error);
    expect((during as GatewayError).code).toBe('UPSTREAM_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(COOLDOWN_MS);
    expect(stack.sim.requests()).toHaveLength(0);

    // After the cool-down a probe goes through; it fails (the fault is still there), so the circuit opens again.
    await wait(COOLDOWN_MS + 50);
    const probeFailed = await api.listUsers().catch((error: unknown) => error);
    expect((probeFailed as GatewayError).code).toBe('UPSTREAM_UNAVAILABLE');
    expect(stack.sim.requests({ path: USERS })).toHaveLength(1);
    expect(stack.gateway.services.upstream.isCircuitOpen()).toBe(true);

    // EPMware recovers; after the next cool-down exactly one probe goes through while others still fail fast.
    stack.sim.clearFaults();
    stack.sim.clearRequests();
    await wait(COOLDOWN_MS + 50);
    stack.sim.injectFault({ path: USERS, method: 'GET', delayMs: 200, times: 1 });
    const [probe, groups, members] = await Promise.allSettled([
      api.listUsers(),
      api.listGroups(),
      api.groupMembers(),
    ]);
    expect(probe.status).toBe('fulfilled');
    for (const other of [groups, members]) {
      expect(other.status).toBe('rejected');
      expect(other.status === 'rejected' && (other.reason as GatewayError).code).toBe('UPSTREAM_UNAVAILABLE');
    }
    expect(stack.sim.requests().map((r) => r.path)).toEqual([USERS]);

    // Closed again: everything flows.
    expect(stack.gateway.services.upstream.isCircuitOpen()).toBe(false);
    expect(await circuitGauge()).toBe(0);
    const after = await stack.graphql<{ users: { totalCount: number } }>('{ users { totalCount } }');
    expect(after.data?.users.totalCount).toBe(stack.sim.state().users().length);
  });

  it('4xx answers are not failures: a run of 404s leaves the circuit closed', async () => {
    for (let i = 0; i < 4; i++) {
      const error = await api.taskStatus('no-such-task').catch((e: unknown) => e);
      expect((error as GatewayError).code).toBe('NOT_FOUND');
    }
    expect(stack.gateway.services.upstream.isCircuitOpen()).toBe(false);
  });
});
