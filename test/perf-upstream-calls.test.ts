/**
 * What the hot path asks EPMware for: a cold users->groups sends the users list and the memberships together (one
 * round trip on the critical path), a one-user page still asks for that user's groups alone, and warm requests
 * (the cached, parsed answers) ask nothing more. Counted in the simulator's request log, never timed.
 */
import { expect, it } from 'vitest';
import { stackForFile } from './harness.ts';

const stack = stackForFile({ simulator: { users: 200, groups: 10 }, env: { CACHE_TTL_MS: '0' } });

const api = () => stack.sim.requests({ path: '/service/api/*' });
const USERS = '/service/api/security/users';
const MEMBERSHIPS = '/service/api/security/groups/users';

it('cold users->groups: the users list and the memberships are in flight together', async () => {
  // Both answers are held back long enough that, had the memberships waited for the users list, the log could
  // never show both requests received and unanswered at once.
  stack.sim.injectFault({ path: USERS, delayMs: 3_000, times: 1 });
  stack.sim.injectFault({ path: MEMBERSHIPS, delayMs: 3_000, times: 1 });
  const answer = stack.graphql<{
    users: { nodes: Array<{ userName: string; groups: Array<{ name: string }> }> };
  }>('{ users(first: 1000) { nodes { userName groups { name } } } }');
  let both = api();
  while (both.length < 2) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    both = api();
  }
  expect(both.map((call) => [call.path, call.status]).sort()).toEqual([
    [MEMBERSHIPS, 0],
    [USERS, 0],
  ]);
  const result = await answer;
  expect(result.errors).toBeUndefined();
  expect(result.data?.users.nodes).toHaveLength(200);
  const state = stack.sim.state();
  const first = result.data?.users.nodes.find((user) => user.groups.length > 0);
  expect(first?.groups).toHaveLength(state.groupsOf(first?.userName as string).length);
  expect(api()).toHaveLength(2);
});

it('through fragments too', async () => {
  const result = await stack.graphql(
    'query { users(first: 5) { ...Page } } fragment Page on UserConnection { edges { node { ... on User { groups { name } } } } }',
  );
  expect(result.errors).toBeUndefined();
  expect(
    api()
      .map((call) => call.path)
      .sort(),
  ).toEqual([MEMBERSHIPS, USERS]);
});

it('a list without groups asks only for the users', async () => {
  const result = await stack.graphql('{ users(first: 1000) { nodes { userName email } } }');
  expect(result.errors).toBeUndefined();
  expect(api().map((call) => call.path)).toEqual([USERS]);
});

it('a one-user page asks for that user’s groups alone, not every membership', async () => {
  const result = await stack.graphql('{ users(first: 1) { nodes { userName groups { name } } } }');
  expect(result.errors).toBeUndefined();
  expect(
    api()
      .map((call) => call.path)
      .sort(),
  ).toEqual([USERS, '/service/api/security/users/groups']);
});

it('a failing memberships call fails the groups, not the request before it', async () => {
  stack.sim.injectFault({ path: MEMBERSHIPS, status: 500, times: 10 });
  const result = await stack.graphql<{ users: { totalCount: number } }>(
    '{ users(first: 10) { totalCount nodes { groups { name } } } }',
  );
  expect(result.errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
  expect(api().filter((call) => call.path === USERS)).toHaveLength(1);
});
