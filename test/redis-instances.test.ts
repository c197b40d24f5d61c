/**
 * Several gateway instances on one simulator and one Redis (real HTTP, real Redis): the budget is one window per
 * credential for all of them, a write through one is seen by the next read through any other, and one token's
 * answers never reach another token. Skipped with a message when no Redis answers (CI=true fails instead).
 */
import { describe, expect, it } from 'vitest';
import { Credential } from '../src/upstream/credential.ts';
import { Epmware } from '../src/upstream/epmware.ts';
import { type Instance, redisMissing, sharedRedisInstances } from './redis-support.ts';

const missing = await redisMissing();

describe.skipIf(missing !== null)('several instances sharing one Redis', () => {
  // EPMware's documented limits: 100 standard requests a minute per token, 429 past that.
  const shared = sharedRedisInstances('instances', { rateLimits: 'documented' });

  it('three instances, default budget: 300 queries from 30 clients -> no upstream 429, at most 100 requests', async () => {
    // No cache, and every query names its own deployment: nothing is coalesced, each needs its own request.
    const [a, b, c] = await shared.start(3, { CACHE_TTL_MS: '0' });
    if (!a || !b || !c) throw new Error('three instances expected');
    shared.sim.configure({ rateLimits: 'documented' });
    shared.sim.clearRequests();
    const spread = [a, b, c];
    const codes: string[] = [];
    await Promise.all(
      Array.from({ length: 30 }, async (_, client) => {
        for (let i = 0; i < 10; i++) {
          const instance = spread[(client + i) % 3] as Instance;
          const answer = await instance.graphql(
            'query ($n: String!) { deployment(name: $n) { latestExecution { id } } }',
            { n: `NO_SUCH_${client}_${i}` },
            shared.sim.tokens.primary,
          );
          codes.push(String(answer.errors?.[0]?.extensions?.code ?? 'OK'));
        }
      }),
    );
    const received = shared.sim.requests();
    expect(received.filter((r) => r.status === 429)).toHaveLength(0);
    expect(received.length).toBeLessThanOrEqual(100);
    // The budget was the limit, not the demand: the whole minute's budget went upstream, the rest was refused.
    expect(received.length).toBeGreaterThanOrEqual(90);
    expect(codes).toHaveLength(300);
    expect(codes.filter((code) => code === 'RATE_LIMITED').length).toBe(300 - received.length);
    // Each instance served some of them: the window is shared, not one instance taking it all by luck.
    for (const instance of spread) {
      const metrics = await instance.gateway.services.metrics.registry.getSingleMetricAsString(
        'gateway_upstream_requests_total',
      );
      expect(metrics).toMatch(/status="\d+"} [1-9]/);
    }
  });

  it('a write through A: the next read through B and C shows it, with their caches on', async () => {
    const [a, b, c] = await shared.start(3, { CACHE_TTL_MS: '60000', UPSTREAM_RATE_LIMIT_PER_MIN: '100000' });
    if (!a || !b || !c) throw new Error('three instances expected');
    shared.sim.configure({ rateLimits: 'relaxed' });
    const token = shared.sim.tokens.primary;
    const userName = shared.sim.state(token).users()[0]?.userName ?? '';
    const read = 'query ($u: String!) { user(userName: $u) { lastName } }';
    // Warm B's and C's caches (and check they are caches: a second read costs nothing upstream).
    for (const instance of [b, c]) await instance.graphql(read, { u: userName }, token);
    shared.sim.clearRequests();
    for (const instance of [b, c]) await instance.graphql(read, { u: userName }, token);
    expect(shared.sim.requests({ method: 'GET' })).toHaveLength(0);

    const write = await a.graphql(
      'mutation ($u: String!) { updateSsoUser(userName: $u, input: { lastName: "Changed-Through-A" }) { lastName } }',
      { u: userName },
      token,
    );
    expect(write.errors).toBeUndefined();
    shared.sim.clearRequests();
    for (const instance of [b, c]) {
      const after = await instance.graphql<{ user: { lastName: string } }>(read, { u: userName }, token);
      expect(after.data?.user.lastName).toBe('Changed-Through-A');
    }
    // B and C did not go upstream: A's read-back after the write stored the fresh answer under the new version,
    // which they found in Redis; the entries they held under the old version were unreachable.
    expect(shared.sim.requests({ method: 'GET' })).toHaveLength(0);
  });

  it("one instance's task polls cannot take the minute from another instance's users", async () => {
    // 8 a minute, two instances: a reserve of 2 each, a pool of 4. Background claims fill at most 3 of the pool
    // and 6 of the total (src/redis/budget-pool.ts); without that ceiling A's polls would take 6 and leave B 2.
    const env = {
      UPSTREAM_RATE_LIMIT_PER_MIN: '8',
      GATEWAY_INSTANCES: '2',
      CACHE_TTL_MS: '0',
      UPSTREAM_TIMEOUT_MS: '1000',
    };
    const [a, b] = await shared.start(2, env, { budgetWindowMs: 30_000 });
    if (!a || !b) throw new Error('two instances expected');
    const token = shared.sim.tokens.secondary;
    shared.sim.clearRequests();
    const polls = new Epmware(a.gateway.services.upstream, new Credential(token));
    const taskId = shared.sim.fixtures.succeededTaskId;
    const polled = await Promise.allSettled(
      // A poller's own requests: never joined to one another.
      Array.from({ length: 8 }, () => polls.pollTaskStatus(taskId, new AbortController().signal)),
    );
    // The secondary token has no such task: a poll that reached EPMware fails NOT_FOUND, one the budget refused
    // fails RATE_LIMITED.
    const refused = polled.filter(
      (outcome) =>
        outcome.status === 'rejected' && (outcome.reason as { code?: string }).code === 'RATE_LIMITED',
    );
    expect(8 - refused.length).toBe(5);
    const codes: string[] = [];
    for (let i = 0; i < 8; i++) {
      const answer = await b.graphql(
        'query ($n: String!) { deployment(name: $n) { latestExecution { id } } }',
        { n: `NO_SUCH_POLLED_${i}` },
        token,
      );
      codes.push(String(answer.errors?.[0]?.extensions?.code));
    }
    // The pool's last slot and B's reserve: three users served, the rest refused at once.
    expect(codes.filter((code) => code === 'NOT_FOUND')).toHaveLength(3);
    expect(shared.sim.requests()).toHaveLength(8);
  });

  it('two tokens across instances: nothing of one is ever served to the other', async () => {
    const [a, b] = await shared.start(2, { CACHE_TTL_MS: '60000', UPSTREAM_RATE_LIMIT_PER_MIN: '100000' });
    if (!a || !b) throw new Error('two instances expected');
    shared.sim.configure({ rateLimits: 'relaxed' });
    const { primary, secondary } = shared.sim.tokens;
    const query = '{ users(first: 1000) { totalCount edges { node { userName } } } }';
    type Users = { users: { totalCount: number; edges: Array<{ node: { userName: string } }> } };
    const names = (answer: { data?: Users | null }) =>
      answer.data?.users.edges.map((e) => e.node.userName.toLowerCase()).sort();
    const expected = (token: string) =>
      shared.sim
        .state(token)
        .users()
        .map((u) => u.userName.toLowerCase())
        .sort();
    expect(expected(primary)).not.toEqual(expected(secondary));
    shared.sim.clearRequests();
    // Primary fills the shared cache through A; secondary asks the same query through B, then A, and back.
    expect(names(await a.graphql<Users>(query, undefined, primary))).toEqual(expected(primary));
    expect(names(await b.graphql<Users>(query, undefined, secondary))).toEqual(expected(secondary));
    expect(names(await a.graphql<Users>(query, undefined, secondary))).toEqual(expected(secondary));
    expect(names(await b.graphql<Users>(query, undefined, primary))).toEqual(expected(primary));
    // Each token went upstream itself exactly once: the second instance found its own token's entry only.
    const tokens = shared.sim.requests({ method: 'GET' }).map((r) => r.token);
    expect(tokens.filter((t) => t === primary)).toHaveLength(1);
    expect(tokens.filter((t) => t === secondary)).toHaveLength(1);
  });
});
