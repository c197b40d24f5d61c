/**
 * Groups, memberships both ways, and the batching claim for a small tenant: the nested queries cost at most two
 * upstream requests, whatever their depth.
 */
import { describe, expect, it } from 'vitest';
import type { UpstreamGroup } from '../src/simulator/index.ts';
import { COUNTED_UPSTREAM, stackForFile } from './harness.ts';

const stack = stackForFile(COUNTED_UPSTREAM);

const key = (name: string) => name.toLowerCase();
const apiCalls = () => stack.sim.requests({ path: '/service/api/*' });
const sorted = (names: string[]) => [...names].sort();

interface GroupNode {
  id: string;
  name: string;
  description: string | null;
  enabled: boolean;
  userCount: number;
  users: Array<{ userName: string }>;
}

async function groupNames(variables: Record<string, unknown>): Promise<string[]> {
  const result = await stack.graphql<{ groups: { nodes: Array<{ name: string }> } }>(
    /* GraphQL */ `query($filter: GroupFilter, $orderBy: GroupOrder) {
      groups(first: 1000, filter: $filter, orderBy: $orderBy) { nodes { name } }
    }`,
    variables,
  );
  expect(result.errors).toBeUndefined();
  return result.data?.groups.nodes.map((group) => group.name) ?? [];
}

describe('groups', () => {
  it('answers every field as EPMware has it', async () => {
    const result = await stack.graphql<{ groups: { totalCount: number; nodes: GroupNode[] } }>(/* GraphQL */ `
      { groups(first: 1000) { totalCount nodes { id name description enabled userCount users { userName } } } }
    `);
    expect(result.errors).toBeUndefined();
    const state = stack.sim.state();
    const upstream = state.groups();
    expect(result.data?.groups.totalCount).toBe(upstream.length);
    const byName = new Map(upstream.map((group) => [group.name, group]));
    const userNames = new Map(state.users().map((user) => [key(user.userName), user.userName]));
    for (const node of result.data?.groups.nodes ?? []) {
      const group = byName.get(node.name) as UpstreamGroup;
      expect(group, node.name).toBeDefined();
      const members = state.members(group.name).map((member) => userNames.get(key(member)));
      expect(node).toEqual({
        id: Buffer.from(`Group:${key(group.name)}`).toString('base64'),
        name: group.name,
        description: group.description,
        enabled: group.enable === 'Y',
        userCount: members.length,
        users: members.map((userName) => ({ userName })),
      });
    }
    expect(result.data?.groups.nodes.some((node) => !node.enabled)).toBe(true);
    expect(result.data?.groups.nodes.map((node) => node.name)).toEqual(
      [...upstream.map((group) => group.name)].sort((a, b) => (key(a) < key(b) ? -1 : 1)),
    );
    // groups + every group's members + users (for userName as the users list spells it): one call each.
    expect(sorted(apiCalls().map((call) => call.path))).toEqual([
      '/service/api/security/groups',
      '/service/api/security/groups/users',
      '/service/api/security/users',
    ]);
  });

  it('filters by search, name, enabled, hasMember and combinations; orders by name either way', async () => {
    const state = stack.sim.state();
    const groups = state.groups();
    const names = (list: UpstreamGroup[]) => sorted(list.map((group) => group.name));
    expect(sorted(await groupNames({ filter: { enabled: false } }))).toEqual(
      names(groups.filter((group) => group.enable === 'N')),
    );
    expect(sorted(await groupNames({ filter: { name: { contains: 'ER' } } }))).toEqual(
      names(groups.filter((group) => group.name.toLowerCase().includes('er'))),
    );
    const described = groups[3] as UpstreamGroup;
    const word = described.description?.split(' ')[0]?.toUpperCase() ?? '';
    expect(sorted(await groupNames({ filter: { search: word } }))).toEqual(
      names(
        groups.filter((group) =>
          [group.name, group.description].some((field) => field?.toLowerCase().includes(word.toLowerCase())),
        ),
      ),
    );
    const user = state.users()[0]?.userName as string;
    expect(sorted(await groupNames({ filter: { hasMember: user.toUpperCase() } }))).toEqual(
      sorted(state.groupsOf(user)),
    );
    expect(sorted(await groupNames({ filter: { not: { hasMember: user }, enabled: true } }))).toEqual(
      names(groups.filter((group) => group.enable === 'Y' && !state.groupsOf(user).includes(group.name))),
    );
    const descending = await groupNames({ orderBy: { direction: 'DESC' } });
    expect(descending).toEqual(
      [...groups.map((group) => group.name)].sort((a, b) => (key(a) < key(b) ? 1 : -1)),
    );
  });

  it('group(name) is case-insensitive; null for an unknown group', async () => {
    const group = stack.sim.state().groups()[1] as UpstreamGroup;
    const result = await stack.graphql<{ group: GroupNode; missing: null }>(
      /* GraphQL */ `query($n: String!) {
        group(name: $n) { name description enabled userCount users { userName } }
        missing: group(name: "No Such Group") { name }
      }`,
      { n: group.name.toUpperCase() },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.missing).toBeNull();
    expect(result.data?.group.name).toBe(group.name);
    expect(sorted(result.data?.group.users.map((user) => key(user.userName)) ?? [])).toEqual(
      sorted(stack.sim.state().members(group.name).map(key)),
    );
    // A lone group's members come from /security/groups/users?groupName=, not every group's.
    const members = apiCalls().find((call) => call.path === '/service/api/security/groups/users');
    expect(members?.query).toEqual({ groupName: group.name });
  });

  it('node(id) resolves a Group; null for one EPMware does not have', async () => {
    const group = stack.sim.state().groups()[2] as UpstreamGroup;
    const id = Buffer.from(`Group:${key(group.name)}`).toString('base64');
    const result = await stack.graphql(
      `query($id: ID!, $gone: ID!) { node(id: $id) { id ... on Group { name } } gone: node(id: $gone) { id } }`,
      { id, gone: Buffer.from('Group:no such group').toString('base64') },
    );
    expect(result).toMatchObject({ data: { node: { id, name: group.name }, gone: null } });
    expect(result.errors).toBeUndefined();
  });
});

describe('batching', () => {
  const USERS_NESTED = /* GraphQL */ `
    query($n: Int) { users(first: $n) { nodes { groups { users { groups { name } } } } } }
  `;
  const GROUPS_NESTED = /* GraphQL */ `{ groups { nodes { users { groups { name } } } } }`;

  it('users(first: 10) nested three levels deep costs two upstream requests, with the right data', async () => {
    const result = await stack.graphql<{
      users: { nodes: Array<{ groups: Array<{ users: Array<{ groups: Array<{ name: string }> }> }> }> };
    }>(USERS_NESTED, { n: 10 });
    expect(result.errors).toBeUndefined();
    expect(apiCalls()).toHaveLength(2);
    expect(sorted(apiCalls().map((call) => call.path))).toEqual([
      '/service/api/security/groups/users',
      '/service/api/security/users',
    ]);
    // The data is right too: the first user's first group's members each have their own groups.
    const state = stack.sim.state();
    const firstUser = [...state.users()].sort((a, b) => (key(a.userName) < key(b.userName) ? -1 : 1))[0];
    const nodes = result.data?.users.nodes ?? [];
    expect(nodes).toHaveLength(10);
    const groupsOfFirst = state.groupsOf(firstUser?.userName as string);
    expect(nodes[0]?.groups).toHaveLength(groupsOfFirst.length);
    const firstGroup = sortedByKey(groupsOfFirst)[0] as string;
    const members = state.members(firstGroup);
    expect(nodes[0]?.groups[0]?.users.map((user) => user.groups.map((group) => group.name))).toEqual(
      members.map((member) => sortedByKey(state.groupsOf(member))),
    );
  });

  it('groups nested three levels deep costs two upstream requests', async () => {
    const result = await stack.graphql<{ groups: { nodes: Array<{ users: Array<{ groups: unknown[] }> }> } }>(
      GROUPS_NESTED,
    );
    expect(result.errors).toBeUndefined();
    const state = stack.sim.state();
    expect(result.data?.groups.nodes.map((group) => group.users.length)).toEqual(
      [...state.groups()]
        .sort((a, b) => (key(a.name) < key(b.name) ? -1 : 1))
        .map((group) => state.members(group.name).length),
    );
    expect(sorted(apiCalls().map((call) => call.path))).toEqual([
      '/service/api/security/groups',
      '/service/api/security/groups/users',
    ]);
  });

  it('an upstream failure of the memberships call is that field’s error, with the contract code', async () => {
    stack.sim.injectFault({ path: '/service/api/security/groups/users', status: 403, message: 'No access' });
    const [deployment] = stack.sim.fixtures.deploymentNames;
    const result = await stack.graphql<{
      user: unknown;
      deployment: { name: string; latestExecution: unknown };
    }>(
      /* GraphQL */ `query($d: String!) {
        group(name: "Developers") { name userCount }
        deployment(name: $d) { name latestExecution { state } }
      }`,
      { d: deployment },
    );
    expect(result.data).toMatchObject({ group: null, deployment: { name: deployment } });
    expect(result.data?.deployment.latestExecution).not.toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors?.[0]).toMatchObject({
      message: 'No access',
      path: ['group', 'userCount'],
      extensions: { code: 'FORBIDDEN', upstreamStatus: 403 },
    });
  });
});

function sortedByKey(names: string[]): string[] {
  return [...names].sort((a, b) => (key(a) < key(b) ? -1 : 1));
}
