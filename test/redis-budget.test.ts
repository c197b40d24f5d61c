/**
 * The Redis-shared budget keeps the in-process budget's promises (windows shortened through `budgetWindowMs`):
 * never more than N requests per window, interactive requests before background polls, and the in-memory part
 * of the shared cache stays at its maximum under a flood. Skipped with a message when no Redis answers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamTuning } from '../src/upstream/client.ts';
import { Credential } from '../src/upstream/credential.ts';
import { Epmware } from '../src/upstream/epmware.ts';
import { expectInteractiveBeforeBackground, expectTwoPerWindow } from './harness.ts';
import { type Instance, redisMissing, sharedRedisInstances } from './redis-support.ts';

const missing = await redisMissing();

describe.skipIf(missing !== null)('the shared budget and cache, through Redis', () => {
  const shared = sharedRedisInstances('budget', { rateLimits: 'relaxed' });
  let instance: Instance | undefined;

  afterEach(async () => {
    await shared.stop();
    instance = undefined;
  });

  async function start(env: Record<string, string>, upstream?: UpstreamTuning): Promise<Epmware> {
    [instance] = await shared.start(1, env, upstream);
    if (!instance) throw new Error('one instance expected');
    shared.sim.clearRequests();
    return new Epmware(instance.gateway.services.upstream, new Credential(shared.sim.tokens.primary));
  }

  it('a request whose slot comes within its deadline waits for it: never more than N per window', async () => {
    const windowMs = 400;
    const api = await start(
      { UPSTREAM_RATE_LIMIT_PER_MIN: '2', UPSTREAM_TIMEOUT_MS: '5000', CACHE_TTL_MS: '0' },
      { budgetWindowMs: windowMs },
    );
    await expectTwoPerWindow(api, shared.sim, windowMs);
  });

  it('background task polls yield to interactive requests', async () => {
    const api = await start(
      { UPSTREAM_RATE_LIMIT_PER_MIN: '1', UPSTREAM_TIMEOUT_MS: '8000', CACHE_TTL_MS: '0' },
      { budgetWindowMs: 250 },
    );
    await expectInteractiveBeforeBackground(api, shared.sim);
  });

  it('a slot a minute away is refused at once with RATE_LIMITED, and nothing more reaches EPMware', async () => {
    const api = await start({ UPSTREAM_RATE_LIMIT_PER_MIN: '2', CACHE_TTL_MS: '0' });
    await api.listUsers();
    await api.listGroups();
    // The default deadline is 30 s, the next slot ~60 s away: refused without waiting.
    await expect(api.groupMembers()).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(shared.sim.requests()).toHaveLength(2);
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
    expect(shared.sim.requests()).toHaveLength(500);
    expect(instance?.gateway.services.upstream.stateSizes().cacheEntries).toBe(50);
  });
});
