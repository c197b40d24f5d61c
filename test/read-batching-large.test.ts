/**
 * The batching claim at scale: on a 10,000-user tenant the nested queries cost the same two upstream requests
 * as on a small one — every page of every user, and every group.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Stack, startStack } from './harness.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    simulator: { users: 10_000, groups: 500 },
    env: { CACHE_TTL_MS: '0', UPSTREAM_RATE_LIMIT_PER_MIN: '100000' },
  });
}, 60_000);
afterAll(() => stack.close());

const key = (name: string) => name.toLowerCase();
const apiPaths = () =>
  stack.sim
    .requests({ path: '/service/api/*' })
    .map((call) => call.path)
    .sort();

interface NestedPage {
  users: {
    totalCount: number;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    nodes: Array<{ groups: Array<{ name: string; users: Array<{ groups: Array<{ name: string }> }> }> }>;
  };
}

it('users nested three levels deep: two upstream requests per page of 1000, for all 10,000 users', async () => {
  const state = stack.sim.state();
  const expectedGroupCounts = [...state.users()]
    .sort((a, b) => (key(a.userName) < key(b.userName) ? -1 : 1))
    .map((user) => state.groupsOf(user.userName).length);
  const seenGroupCounts: number[] = [];
  let after: string | null = null;
  for (let page = 0; page < 10; page++) {
    stack.sim.clearRequests();
    const result: Awaited<ReturnType<typeof stack.graphql<NestedPage>>> = await stack.graphql<NestedPage>(
      /* GraphQL */ `query($after: String) {
        users(first: 1000, after: $after) {
          totalCount pageInfo { hasNextPage endCursor }
          nodes { groups { name users { groups { name } } } }
        }
      }`,
      { after },
    );
    expect(result.errors).toBeUndefined();
    const users = result.data?.users;
    if (!users) throw new Error('no page');
    expect(users.totalCount).toBe(10_000);
    expect(users.nodes).toHaveLength(1000);
    expect(users.pageInfo.hasNextPage).toBe(page < 9);
    expect(apiPaths()).toEqual(['/service/api/security/groups/users', '/service/api/security/users']);
    seenGroupCounts.push(...users.nodes.map((user) => user.groups.length));
    if (page === 0) {
      // Spot-check the third level against the simulator: a group's members each carry their own groups.
      const group = users.nodes.find((user) => user.groups.length > 0)?.groups[0];
      const members = state.members(group?.name as string);
      expect(group?.users.map((user) => user.groups.length)).toEqual(
        members.map((member) => state.groupsOf(member).length),
      );
    }
    after = users.pageInfo.endCursor;
  }
  expect(seenGroupCounts).toEqual(expectedGroupCounts);
}, 120_000);

it('groups nested three levels deep: two upstream requests for all 500 groups', async () => {
  stack.sim.clearRequests();
  const result = await stack.graphql<{
    groups: { totalCount: number; nodes: Array<{ users: Array<{ groups: Array<{ name: string }> }> }> };
  }>(`{ groups(first: 1000) { totalCount nodes { users { groups { name } } } } }`);
  expect(result.errors).toBeUndefined();
  expect(result.data?.groups.totalCount).toBe(500);
  const memberships = result.data?.groups.nodes.reduce((sum, group) => sum + group.users.length, 0);
  const state = stack.sim.state();
  expect(memberships).toBe(state.groups().reduce((sum, group) => sum + state.members(group.name).length, 0));
  expect(apiPaths()).toEqual(['/service/api/security/groups', '/service/api/security/groups/users']);
}, 60_000);
