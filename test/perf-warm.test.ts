/**
 * A warm cache answers from the parsed value it keeps per cached answer: repeated list requests make no upstream
 * call, give the same bytes, and one credential's parsed answers never reach another's requests.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Stack, startStack } from './harness.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ simulator: { users: 300, groups: 15 }, env: { CACHE_TTL_MS: '600000' } });
});
afterAll(() => stack.close());

const QUERY = '{ users(first: 1000) { totalCount nodes { userName groups { name users { userName } } } } }';

it('warm requests cost no upstream call and answer the same', async () => {
  const first = await stack.graphql(QUERY);
  expect(first.errors).toBeUndefined();
  stack.sim.clearRequests();
  for (let i = 0; i < 5; i++) {
    const again = await stack.graphql(QUERY);
    expect(again).toEqual(first);
  }
  expect(stack.sim.requests({ path: '/service/api/*' })).toHaveLength(0);
});

it("another token's requests never see the first token's cached lists", async () => {
  const primary = await stack.graphql<{ users: { totalCount: number; nodes: Array<{ userName: string }> } }>(
    QUERY,
  );
  stack.sim.clearRequests();
  const secondary = await stack.graphql<{
    users: { totalCount: number; nodes: Array<{ userName: string }> };
  }>(QUERY, undefined, { token: stack.sim.tokens.secondary });
  expect(secondary.errors).toBeUndefined();
  const expected = stack.sim.state(stack.sim.tokens.secondary).users().length;
  expect(secondary.data?.users.totalCount).toBe(expected);
  expect(secondary.data?.users.nodes.map((user) => user.userName)).not.toEqual(
    primary.data?.users.nodes.map((user) => user.userName),
  );
  const calls = stack.sim.requests({ path: '/service/api/*' });
  expect(calls.length).toBeGreaterThan(0);
  expect(calls.every((call) => call.token === stack.sim.tokens.secondary)).toBe(true);
});
