/**
 * The per-credential budget: requests beyond UPSTREAM_RATE_LIMIT_PER_MIN wait for a slot or, when the slot would
 * come after their deadline, get RATE_LIMITED at once; the simulator never sees a 429; interactive requests go
 * before background task polls. Windows are shortened through the client's `budgetWindowMs` so slots come back
 * within a test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../src/errors.ts';
import { budgetLimits } from '../src/upstream/budget.ts';
import { Credential } from '../src/upstream/credential.ts';
import { Epmware } from '../src/upstream/epmware.ts';
import {
  expectInteractiveBeforeBackground,
  expectTwoPerWindow,
  fourDistinctReads,
  type Stack,
  startStack,
} from './harness.ts';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

function epmware(s: Stack, token = s.token): Epmware {
  return new Epmware(s.gateway.services.upstream, new Credential(token));
}

describe('budget', () => {
  it('with UPSTREAM_RATE_LIMIT_PER_MIN=3 the 4th concurrent request is RATE_LIMITED at once; no 429 upstream', async () => {
    stack = await startStack({
      env: { UPSTREAM_RATE_LIMIT_PER_MIN: '3', UPSTREAM_TIMEOUT_MS: '2000', CACHE_TTL_MS: '0' },
      simulator: { rateLimits: { standard: 3, upload: 1, bulk: 1 } },
    });
    const s = stack;
    const reads = fourDistinctReads(epmware(s), s.sim.fixtures.deploymentNames[0] ?? '');
    const started = Date.now();
    const outcomes = await Promise.allSettled(reads.map((read) => read()));
    const elapsed = Date.now() - started;
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(refused).toHaveLength(1);
    const reason: unknown = refused[0]?.status === 'rejected' ? refused[0].reason : undefined;
    expect(reason).toBeInstanceOf(GatewayError);
    expect((reason as GatewayError).code).toBe('RATE_LIMITED');
    // Refused at once (its slot is a minute away), not after waiting out the 2 s deadline.
    expect(elapsed).toBeLessThan(1_500);
    expect(s.sim.requests()).toHaveLength(3);
    expect(s.sim.requests().filter((r) => r.status === 429)).toHaveLength(0);

    // Through GraphQL the same refusal is the contract's code, and still nothing reaches the simulator.
    const viaGraphql = await s.graphql('{ users { totalCount } }');
    expect(viaGraphql.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(s.sim.requests()).toHaveLength(3);
    const metrics = await s.gateway.services.metrics.registry.getSingleMetricAsString(
      'gateway_budget_rejections_total',
    );
    expect(Number(/class="standard"} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
  });

  it('a budget is per credential: another token is not held back', async () => {
    stack = await startStack({
      env: { UPSTREAM_RATE_LIMIT_PER_MIN: '1', UPSTREAM_TIMEOUT_MS: '2000', CACHE_TTL_MS: '0' },
    });
    const s = stack;
    await epmware(s).listUsers();
    const secondary = await epmware(s, s.sim.tokens.secondary).listUsers();
    expect(secondary.length).toBe(s.sim.state(s.sim.tokens.secondary).users().length);
    expect(s.sim.requests().map((r) => r.token)).toEqual([s.sim.tokens.primary, s.sim.tokens.secondary]);
  });

  it('a request whose slot comes within its deadline waits for it: never more than N per window', async () => {
    const windowMs = 400;
    stack = await startStack({
      env: { UPSTREAM_RATE_LIMIT_PER_MIN: '2', UPSTREAM_TIMEOUT_MS: '5000', CACHE_TTL_MS: '0' },
      upstream: { budgetWindowMs: windowMs },
    });
    await expectTwoPerWindow(epmware(stack), stack.sim, windowMs);
  });

  it('background task polls yield to interactive requests', async () => {
    stack = await startStack({
      env: { UPSTREAM_RATE_LIMIT_PER_MIN: '1', UPSTREAM_TIMEOUT_MS: '8000', CACHE_TTL_MS: '0' },
      upstream: { budgetWindowMs: 250 },
    });
    await expectInteractiveBeforeBackground(epmware(stack), stack.sim);
  });

  it('bulk operations have their own, smaller budget', async () => {
    stack = await startStack({
      env: { UPSTREAM_RATE_LIMIT_PER_MIN: '20', UPSTREAM_TIMEOUT_MS: '2000', CACHE_TTL_MS: '0' },
    });
    const s = stack;
    const userName = s.sim.state().users()[0]?.userName ?? '';
    const group = s.sim.state().groups()[0]?.name ?? '';
    const api = epmware(s);
    await api.assignGroups(userName, [group]);
    const error = await api.unassignGroups(userName, [group]).catch((e: unknown) => e);
    expect((error as GatewayError).code).toBe('RATE_LIMITED');
    expect(s.sim.requests({ path: '/service/api/security/users/sso/*' })).toHaveLength(1);
    // Standard reads still have their budget.
    await expect(api.listGroups()).resolves.toBeInstanceOf(Array);
  });
});

describe('budget limits', () => {
  it('are EPMware documented ones at 100/min; smaller budgets shrink in proportion below it, never under 1', () => {
    expect(budgetLimits(100)).toEqual({ standard: 100, upload: 10, bulk: 5 });
    expect(budgetLimits(1000)).toEqual({ standard: 1000, upload: 10, bulk: 5 });
    expect(budgetLimits(50)).toEqual({ standard: 50, upload: 5, bulk: 2 });
    expect(budgetLimits(3)).toEqual({ standard: 3, upload: 1, bulk: 1 });
  });
});
