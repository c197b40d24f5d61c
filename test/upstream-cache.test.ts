/**
 * Coalescing and the per-credential cache: identical concurrent GETs share one upstream request, repeated reads
 * within CACHE_TTL_MS are served from the cache, nothing crosses tokens, and writes drop what they change.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ResponseCache } from '../src/upstream/cache.ts';
import { Credential } from '../src/upstream/credential.ts';
import { Epmware } from '../src/upstream/epmware.ts';
import { type Stack, type StackOptions, startStack } from './harness.ts';

const USERS = '/service/api/security/users';
const USERS_QUERY = /* GraphQL */ '{ users { totalCount } }';
const USER_NAMES_QUERY = /* GraphQL */ '{ users(first: 1000) { edges { node { userName enabled } } } }';

interface UserNames {
  users: { edges: Array<{ node: { userName: string; enabled: boolean } }> };
}

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function start(options: StackOptions): Promise<Stack> {
  stack = await startStack(options);
  return stack;
}

function epmware(s: Stack, token = s.token): Epmware {
  return new Epmware(s.gateway.services.upstream, new Credential(token));
}

async function lookups(s: Stack): Promise<Record<string, number>> {
  const metric = await s.gateway.services.metrics.registry
    .getSingleMetric('gateway_upstream_cache_lookups_total')
    ?.get();
  const totals: Record<string, number> = {};
  for (const value of metric?.values ?? []) {
    const result = String(value.labels.result);
    totals[result] = (totals[result] ?? 0) + value.value;
  }
  return totals;
}

describe('coalescing', () => {
  it('10 identical concurrent queries make 1 upstream GET', async () => {
    // The cache is off and the upstream slow, so only coalescing can explain a single request.
    const s = await start({ env: { CACHE_TTL_MS: '0' }, simulator: { latencyMs: 150 } });
    const results = await Promise.all(
      Array.from({ length: 10 }, () => s.graphql<{ users: { totalCount: number } }>(USERS_QUERY)),
    );
    const expected = s.sim.state().users().length;
    for (const result of results) expect(result.data?.users.totalCount).toBe(expected);
    expect(s.sim.requests({ path: USERS })).toHaveLength(1);
    expect((await lookups(s)).coalesced).toBeGreaterThanOrEqual(9);
  });

  it('identical reads of two tokens are not coalesced with each other', async () => {
    const s = await start({ env: { CACHE_TTL_MS: '0' }, simulator: { latencyMs: 150 } });
    const tokens = [s.sim.tokens.primary, s.sim.tokens.secondary];
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        s.graphql<{ users: { totalCount: number } }>(USERS_QUERY, {}, { token: tokens[i % 2] }),
      ),
    );
    results.forEach((result, i) => {
      expect(result.data?.users.totalCount).toBe(s.sim.state(tokens[i % 2]).users().length);
    });
    expect(
      s.sim
        .requests({ path: USERS })
        .map((r) => r.token)
        .sort(),
    ).toEqual([...tokens].sort());
  });

  it('task status polls are coalesced but never cached', async () => {
    const s = await start({ env: { CACHE_TTL_MS: '60000' }, simulator: { latencyMs: 100 } });
    const api = epmware(s);
    const taskId = s.sim.fixtures.runningTaskId;
    await Promise.all([api.taskStatus(taskId, 'background'), api.taskStatus(taskId), api.taskStatus(taskId)]);
    await api.taskStatus(taskId);
    expect(s.sim.requests({ path: '/service/api/task/get_status/*' })).toHaveLength(2);
  });

  it('a caller that may abort still shares: only an explicit own request skips cache and coalescing', async () => {
    const s = await start({ env: { CACHE_TTL_MS: '60000' }, simulator: { latencyMs: 100 } });
    const api = epmware(s);
    const withSignal = () => new AbortController().signal;
    const upstream = s.gateway.services.upstream;
    const read = (signal: AbortSignal) =>
      upstream.json({
        method: 'GET',
        path: '/security/groups',
        endpoint: 'security/groups',
        credential: api.credential,
        signal,
      });
    await Promise.all([read(withSignal()), read(withSignal()), read(withSignal())]);
    await read(withSignal());
    expect(s.sim.requests({ path: '/service/api/security/groups' })).toHaveLength(1);

    // A task poller's polls are its own requests, so that stopping it withdraws them: three polls, three GETs.
    const taskId = s.sim.fixtures.runningTaskId;
    await Promise.all([1, 2, 3].map(() => api.pollTaskStatus(taskId, withSignal())));
    expect(s.sim.requests({ path: '/service/api/task/get_status/*' })).toHaveLength(3);
  });
});

describe('cache', () => {
  it('a repeated query within CACHE_TTL_MS makes 1 upstream GET, and another after it expires', async () => {
    const s = await start({ env: { CACHE_TTL_MS: '400' } });
    const first = await s.graphql<{ users: { totalCount: number } }>(USERS_QUERY);
    const second = await s.graphql<{ users: { totalCount: number } }>(USERS_QUERY);
    expect(second.data).toEqual(first.data);
    expect(s.sim.requests({ path: USERS })).toHaveLength(1);
    expect((await lookups(s)).hit).toBeGreaterThanOrEqual(1);
    await new Promise((resolve) => setTimeout(resolve, 450));
    await s.graphql(USERS_QUERY);
    expect(s.sim.requests({ path: USERS })).toHaveLength(2);
  });

  it('two tokens, interleaved and concurrent, each see only their own data', async () => {
    const s = await start({ env: { CACHE_TTL_MS: '60000' }, simulator: { latencyMs: 30 } });
    const tokens = [s.sim.tokens.primary, s.sim.tokens.secondary];
    const expected = tokens.map((token) =>
      s.sim
        .state(token)
        .users()
        .map((u) => u.userName)
        .sort(),
    );
    // The tenants differ, or this test could not fail.
    expect(expected[0]).not.toEqual(expected[1]);
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          s.graphql<UserNames>(USER_NAMES_QUERY, {}, { token: tokens[i % 2] }),
        ),
      );
      results.forEach((result, i) => {
        expect(result.errors).toBeUndefined();
        const names = result.data?.users.edges.map((edge) => edge.node.userName).sort();
        expect(names).toEqual(expected[i % 2]);
      });
    }
    // One GET per token over all rounds (cached), each carrying its own token.
    const seen = s.sim.requests({ path: USERS });
    expect(seen.map((r) => r.token).sort()).toEqual([...tokens].sort());
  });

  it('a write through the client drops that credential’s /security/ reads, and only that credential’s', async () => {
    const s = await start({ env: { CACHE_TTL_MS: '60000' } });
    const victim = s.sim
      .state()
      .users()
      .find((u) => u.userType === 'SAML' && u.enable === 'Y');
    expect(victim).toBeDefined();
    const userName = victim?.userName ?? '';
    const enabledOf = (data: UserNames | null | undefined) =>
      data?.users.edges.find((edge) => edge.node.userName === userName)?.node.enabled;

    const before = await s.graphql<UserNames>(USER_NAMES_QUERY);
    expect(enabledOf(before.data)).toBe(true);
    await s.graphql(USERS_QUERY, {}, { token: s.sim.tokens.secondary });
    await epmware(s).setUserEnabled(userName, false);
    const after = await s.graphql<UserNames>(USER_NAMES_QUERY);
    expect(enabledOf(after.data)).toBe(false);
    await s.graphql(USERS_QUERY, {}, { token: s.sim.tokens.secondary });

    const reads = s.sim.requests({ path: USERS });
    expect(reads.filter((r) => r.token === s.sim.tokens.primary)).toHaveLength(2);
    expect(reads.filter((r) => r.token === s.sim.tokens.secondary)).toHaveLength(1);
  });

  it('a deployment run drops the cached execution details of that credential', async () => {
    const s = await start({ env: { CACHE_TTL_MS: '60000' } });
    const api = epmware(s);
    const name = s.sim.fixtures.deploymentNames[0] ?? '';
    const before = await api.deploymentExecutions(name, false);
    await api.deploymentExecutions(name, false);
    await api.runDeployment(name);
    const after = await api.deploymentExecutions(name, false);
    expect(after.length).toBe(before.length + 1);
    expect(s.sim.requests({ path: '/service/api/deployment/get_execution_details' })).toHaveLength(2);
  });

  it('invalidate() drops the given prefixes for that credential', async () => {
    const s = await start({ env: { CACHE_TTL_MS: '60000' } });
    const api = epmware(s);
    await api.listGroups();
    await api.listGroups();
    s.gateway.services.upstream.invalidate(new Credential(s.token), ['/security/']);
    await api.listGroups();
    expect(s.sim.requests({ path: '/service/api/security/groups' })).toHaveLength(2);
  });

  it('a disableUser mutation followed at once by users shows the user disabled', async () => {
    const s = await start({ env: { CACHE_TTL_MS: '60000' } });
    const victim = s.sim
      .state()
      .users()
      .find((u) => u.userType === 'SAML' && u.enable === 'Y');
    const userName = victim?.userName ?? '';
    const before = await s.graphql<UserNames>(USER_NAMES_QUERY);
    expect(before.data?.users.edges.find((e) => e.node.userName === userName)?.node.enabled).toBe(true);
    const disabled = await s.graphql<{ disableUser: { enabled: boolean } }>(
      /* GraphQL */ 'mutation ($userName: String!) { disableUser(userName: $userName) { userName enabled } }',
      { userName },
    );
    expect(disabled.errors).toBeUndefined();
    expect(disabled.data?.disableUser.enabled).toBe(false);
    const after = await s.graphql<UserNames>(USER_NAMES_QUERY);
    expect(after.data?.users.edges.find((e) => e.node.userName === userName)?.node.enabled).toBe(false);
  });
});

describe('ResponseCache', () => {
  it('keeps at most maxEntries, dropping the least recently used first', () => {
    const cache = new ResponseCache(60_000, 2);
    const scope = { fingerprint: 'f', path: '/security/users' };
    cache.set('a', scope, { status: 200, text: 'A' });
    cache.set('b', scope, { status: 200, text: 'B' });
    cache.get('a');
    cache.set('c', scope, { status: 200, text: 'C' });
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.text).toBe('A');
    expect(cache.get('c')?.text).toBe('C');
  });
});
