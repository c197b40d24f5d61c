/**
 * The fault kind the chaos soak added to the simulator: `truncate` answers 200 with a body cut off before its
 * Content-Length and closes the connection. The gateway must answer with a contract code, never hang or crash.
 */
import { describe, expect, it } from 'vitest';
import { stackForFile } from './harness.ts';

const stack = stackForFile({ env: { CACHE_TTL_MS: '0' } });

const GROUPS = '/service/api/security/groups';

describe('the truncate fault', () => {
  it('cuts a read off mid-body: the gateway answers with an upstream code, after at most its retries', async () => {
    stack.sim.injectFault({ path: GROUPS, truncate: true });
    const answer = await stack.graphql('{ groups { totalCount } }');
    expect(['UPSTREAM_ERROR', 'UPSTREAM_UNAVAILABLE']).toContain(answer.errors?.[0]?.extensions?.code);
    const calls = stack.sim.requests({ path: GROUPS });
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(calls.length).toBeLessThanOrEqual(4);
    expect(calls.every((call) => call.status === 200)).toBe(true);
  });

  it('affects only `times` requests, then the simulator answers whole again', async () => {
    stack.sim.injectFault({ path: GROUPS, truncate: true, times: 1 });
    const first = await stack.graphql<{ groups: { totalCount: number } }>('{ groups { totalCount } }');
    const second = await stack.graphql<{ groups: { totalCount: number } }>('{ groups { totalCount } }');
    // The first read is retried (a cut-off body is a transport failure) or fails; the second is whole.
    expect(second.data?.groups.totalCount).toBeGreaterThan(0);
    expect(first.errors?.[0]?.extensions?.code ?? 'data').toMatch(
      /^(data|UPSTREAM_ERROR|UPSTREAM_UNAVAILABLE)$/,
    );
  });

  it('is refused when it is not a boolean (a typo must not inject nothing)', () => {
    expect(() => stack.sim.injectFault({ path: GROUPS, truncate: 'yes' } as never)).toThrow('fault.truncate');
  });
});
