/**
 * Bounded state: flooding the budget with credentials and the cache with distinct reads leaves each at its
 * maximum, through real requests to the simulator (the client is the real one, with the budget and cache injected
 * at a small maximum so the flood is short).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../src/observability/metrics.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { RequestBudget } from '../src/upstream/budget.ts';
import { ResponseCache } from '../src/upstream/cache.ts';
import { UpstreamClient } from '../src/upstream/client.ts';
import { Credential } from '../src/upstream/credential.ts';
import { Epmware } from '../src/upstream/epmware.ts';

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ rateLimits: 'relaxed' });
});
afterAll(async () => {
  await sim?.close();
});

function client(budget: RequestBudget, cache: ResponseCache, metrics: GatewayMetrics): UpstreamClient {
  return new UpstreamClient({
    baseUrl: new URL(sim.url),
    timeoutMs: 5_000,
    metrics,
    cacheTtlMs: 60_000,
    budget,
    cache,
  });
}

describe('bounded state', () => {
  it('1,000 credentials seen once: the budget keeps at most its maximum of windows, and still limits', async () => {
    const metrics = new GatewayMetrics();
    const budget = new RequestBudget({ perMinute: 2, maxWindows: 100, metrics });
    const upstream = client(budget, new ResponseCache(60_000, 50), metrics);
    try {
      sim.clearRequests();
      let largest = 0;
      for (let batch = 0; batch < 20; batch++) {
        await Promise.all(
          Array.from({ length: 50 }, () =>
            new Epmware(upstream, new Credential(`flood-${randomUUID()}`)).listUsers().catch(() => undefined),
          ),
        );
        largest = Math.max(largest, budget.size);
      }
      // Every one of them went upstream (unknown tokens: 401), and spent a slot of its own window.
      expect(sim.requests()).toHaveLength(1_000);
      expect(largest).toBeLessThanOrEqual(100);
      expect(budget.size).toBe(100);
      // The bound did not switch the budget off: a credential in use still gets 2 a minute, then RATE_LIMITED.
      const api = new Epmware(upstream, new Credential(sim.tokens.primary));
      await api.listUsers();
      await api.listGroups();
      await expect(api.groupMembers()).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    } finally {
      await upstream.close();
    }
  });

  it('500 distinct reads: the cache keeps its maximum of entries, the most recent ones', async () => {
    const metrics = new GatewayMetrics();
    const cache = new ResponseCache(60_000, 50);
    const upstream = client(new RequestBudget({ perMinute: 1_000_000, metrics }), cache, metrics);
    try {
      const credential = new Credential(sim.tokens.primary);
      // Distinct query strings make distinct reads (EPMware ignores a parameter it does not know).
      const read = (i: number) =>
        upstream.json({
          method: 'GET',
          path: '/security/users',
          endpoint: 'security/users',
          credential,
          query: { flood: String(i) },
        });
      let largest = 0;
      for (let i = 0; i < 500; i++) {
        await read(i);
        largest = Math.max(largest, cache.size);
      }
      expect(largest).toBe(50);
      expect(cache.size).toBe(50);
      sim.clearRequests();
      // The newest is still served from the cache; the oldest was evicted and goes upstream again.
      await read(499);
      expect(sim.requests()).toHaveLength(0);
      await read(0);
      expect(sim.requests()).toHaveLength(1);
    } finally {
      await upstream.close();
    }
  });
});
