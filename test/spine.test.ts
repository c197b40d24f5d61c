/** The gateway's spine end to end: a token reaches EPMware as `Token <t>`, and no token means no upstream call. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './harness.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { CACHE_TTL_MS: '0' } });
});
afterAll(() => stack.close());
beforeEach(() => stack.sim.clearRequests());

describe('the spine', () => {
  it('answers users from the simulator with the caller token forwarded as "Token <t>"', async () => {
    const answer = await stack.graphql<{ users: { totalCount: number } }>('{ users { totalCount } }');
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.users.totalCount).toBe(stack.sim.state().users().length);
    const calls = stack.sim.requests();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.path).toBe('/service/api/security/users');
    expect(calls[0]?.headers.authorization).toBe(`Token ${stack.token}`);
  });

  it('accepts "Bearer <t>" from the client and still sends "Token <t>" upstream', async () => {
    const answer = await stack.graphql('{ users { totalCount } }', undefined, {
      token: null,
      headers: { authorization: `Bearer ${stack.token}` },
    });
    expect(answer.errors).toBeUndefined();
    expect(stack.sim.requests()[0]?.headers.authorization).toBe(`Token ${stack.token}`);
  });

  it('without a token answers UNAUTHENTICATED and calls nothing upstream', async () => {
    const answer = await stack.graphql('{ users { totalCount } }', undefined, { token: null });
    expect(answer.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(stack.sim.requests()).toHaveLength(0);
  });

  it('serves __typename without a token', async () => {
    const answer = await stack.graphql('{ __typename }', undefined, { token: null });
    expect(answer.data).toEqual({ __typename: 'Query' });
  });

  it('maps an upstream 401 to UNAUTHENTICATED without echoing the token', async () => {
    const bogus = 'not-a-real-token-123';
    const answer = await stack.graphql('{ users { totalCount } }', undefined, { token: bogus });
    expect(answer.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(answer.errors?.[0]?.extensions?.upstreamStatus).toBe(401);
    expect(JSON.stringify(answer)).not.toContain(bogus);
  });
});
