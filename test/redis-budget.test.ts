/**
 * The Redis-shared budget keeps the in-process budget's promises (windows shortened through `budgetWindowMs`):
 * never more than N requests per window, interactive requests before background polls, and the in-memory part
 * of the shared cache stays at its maximum under a flood. Skipped with a message when no Redis answers.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import type { UpstreamTuning } from '../src/upstream/client.ts';
import { Credential } from '../src/upstream/credential.ts';
import { Epmware } from '../src/upstream/epmware.ts';
import {
  deleteKeys,
  type Instance,
  redisMissing,
  SHARED_REDIS_URL,
  startInstance,
  testPrefix,
} from './redis-support.ts';

const missing = await redisMissing();

describe.skipIf(missing !== null)('the shared budget and cache, through Redis', () => {
  const prefixes: string[] = [];
  let sim: Simulator;
  let instance: Instance | undefined;

  beforeAll(async () => {
    sim = await startSimulator({ rateLimits: 'relaxed' });
  });
  afterEach(async () => {
    await instance?.gateway.close();
    instance = undefined;
  });
  afterAll(async () => {
    await sim?.close();
    for (const prefix of prefixes) expect(await deleteKeys(SHARED_REDIS_URL, prefix)).toBe(0);
  });

  async function start(env: Record<string, string>, upstream?: UpstreamTuning): Promise<Epmware> {
    const prefix = testPrefix('budget');
    prefixes.push(prefix);
    instance = await startInstance(sim, SHARED_REDIS_URL, prefix, env, upstream);
    sim.clearRequests();
    return new Epmware(instance.gateway.services.upstream, new Credential(sim.tokens.primary));
  }

  it('a request whose slot comes within its deadline waits for it: never more than N per window', async () => {
    const windowMs = 400;
    const api = await start(
      { UPSTREAM_RATE_LIMIT_PER_MIN: '2', UPSTREAM_TIMEOUT_MS: '5000', CACHE_TTL_MS: '0' },
      { budgetWindowMs: windowMs },
    );
    const reads = [
      () => api.listUsers(),
      () => api.listGroups(),
      () => api.groupMembers(),
      () => api.deploymentExecutions(sim.fixtures.deploymentNames[0] ?? '', true),
    ];
    const outcomes = await Promise.allSettled(reads.map((read) => read()));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    const at = sim.requests().map((r) => r.at);
    expect(at).toHaveLength(4);
    for (let i = 0; i + 2 < at.length; i++) {
      expect((at[i + 2] ?? 0) - (at[i] ?? 0)).toBeGreaterThanOrEqual(windowMs);
    }
  });

  it('background task polls yield to interactive requests', async () => {
    const api = await start(
      { UPSTREAM_RATE_LIMIT_PER_MIN: '1', UPSTREAM_TIMEOUT_MS: '8000', CACHE_TTL_MS: '0' },
      { budgetWindowMs: 250 },
    );
    const { succeededTaskId, failedTaskId } = sim.fixtures;
    const calls = [
      api.listUsers(),
      api.taskStatus(succeededTaskId, 'background'),
      api.taskStatus(failedTaskId, 'background'),
      api.listGroups(),
      api.groupMembers(),
    ];
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.every((o) => o.status === 'fulfilled')).toBe(true);
    expect(sim.requests().map((r) => r.path)).toEqual([
      '/service/api/security/users',
      '/service/api/security/groups',
      '/service/api/security/groups/users',
      `/service/api/task/get_status/${succeededTaskId}`,
      `/service/api/task/get_status/${failedTaskId}`,
    ]);
  });

  it('a slot a minute away is refused at once with RATE_LIMITED, and nothing more reaches EPMware', async () => {
    const api = await start({ UPSTREAM_RATE_LIMIT_PER_MIN: '2', CACHE_TTL_MS: '0' });
    await api.listUsers();
    await api.listGroups();
    // The default deadline is 30 s, the next slot ~60 s away: refused without waiting.
    await expect(api.groupMembers()).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(sim.requests()).toHaveLength(2);
  });

  it('500 distinct reads: the in-memory part of the shared cache stays at its maximum', async () => {
    const api = await start(
      { UPSTREAM_RATE_LIMIT_PER_MIN: '100000', CACHE_TTL_MS: '60000' },
      { cacheMaxEntries: 50 },
    );
    const upstream = instance?.gateway.services.upstream;
    if (!upstream) throw new Error('no instance');
    for (let i = 0; i < 500; i++) {
      await upstream.json({
        method: 'GET',
        path: '/security/users',
        endpoint: 'security/users',
        credential: api.credential,
        query: { flood: String(i) },
      });
    }
    expect(sim.requests()).toHaveLength(500);
    expect(instance?.gateway.services.upstream.stateSizes().cacheEntries).toBe(50);
  });
});
