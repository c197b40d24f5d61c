/**
 * The users read graph: every User field against the simulator's data, Relay pagination, filters, ordering,
 * global ids, and what the simulator received for each.
 */
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import type { UpstreamUser } from '../src/simulator/index.ts';
import { COUNTED_UPSTREAM, stackForFile, startStack } from './harness.ts';

const stack = stackForFile(COUNTED_UPSTREAM);

const key = (name: string) => name.toLowerCase();
const apiCalls = () => stack.sim.requests({ path: '/service/api/*' });

interface UserNode {
  id: string;
  userName: string;
  firstName: string | null;
  lastName: string | null;
  email: string | null;
  description: string | null;
  enabled: boolean;
  userType: string | null;
  groups: Array<{ name: string }>;
}
interface UsersPage {
  users: {
    totalCount: number;
    edges: Array<{ cursor: string; node: { userName: string } }>;
    nodes: Array<{ userName: string }>;
    pageInfo: {
      hasNextPage: boolean;
      hasPreviousPage: boolean;
      startCursor: string | null;
      endCursor: string | null;
    };
  };
}

const PAGE = /* GraphQL */ `
  query Page($first: Int, $after: String, $last: Int, $before: String, $filter: UserFilter, $orderBy: UserOrder) {
    users(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
      totalCount
      edges { cursor node { userName } }
      nodes { userName }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`;

async function userNames(variables: Record<string, unknown>): Promise<string[]> {
  const result = await stack.graphql<UsersPage>(PAGE, { first: 1000, ...variables });
  expect(result.errors).toBeUndefined();
  return result.data?.users.nodes.map((user) => user.userName) ?? [];
}

function expectedUser(user: UpstreamUser) {
  return {
    userName: user.userName,
    firstName: user.firstName,
    lastName: user.lastName,
    email: user.email,
    description: user.description ?? null,
    enabled: user.enable === 'Y',
    userType: user.userType,
    groups: stack.sim
      .state()
      .groupsOf(user.userName)
      .map((name) => ({ name })),
  };
}

describe('users', () => {
  it('answers every field as EPMware has it, from one users call and one memberships call', async () => {
    const result = await stack.graphql<{ users: { totalCount: number; nodes: UserNode[] } }>(/* GraphQL */ `
      { users(first: 1000) { totalCount nodes { id userName firstName lastName email description enabled userType groups { name } } } }
    `);
    expect(result.errors).toBeUndefined();
    const upstream = stack.sim.state().users();
    expect(result.data?.users.totalCount).toBe(upstream.length);
    const byName = new Map(upstream.map((user) => [user.userName, user]));
    const nodes = result.data?.users.nodes ?? [];
    expect(nodes).toHaveLength(upstream.length);
    for (const node of nodes) {
      const user = byName.get(node.userName);
      expect(user, node.userName).toBeDefined();
      const { id, ...fields } = node;
      expect({ ...fields, groups: [...fields.groups].sort(byGroupName) }).toEqual({
        ...expectedUser(user as UpstreamUser),
        groups: expectedUser(user as UpstreamUser).groups.sort(byGroupName),
      });
      expect(Buffer.from(id, 'base64').toString()).toBe(`User:${key(node.userName)}`);
    }
    // The oddities the simulator seeds are all in there: a disabled user, a missing last name, a description-less row.
    expect(nodes.some((node) => !node.enabled)).toBe(true);
    expect(nodes.some((node) => node.lastName === null)).toBe(true);
    expect(nodes.some((node) => node.description === null)).toBe(true);
    expect(
      apiCalls()
        .map((call) => call.path)
        .sort(),
    ).toEqual(['/service/api/security/groups/users', '/service/api/security/users']);
  });

  it('walks every user exactly once, forwards and backwards, with keyset cursors', async () => {
    const all = stack.sim
      .state()
      .users()
      .map((user) => user.userName);
    const forwards: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const result: Awaited<ReturnType<typeof stack.graphql<UsersPage>>> = await stack.graphql<UsersPage>(
        PAGE,
        {
          first: 7,
          after,
        },
      );
      expect(result.errors).toBeUndefined();
      const page = result.data?.users;
      if (!page) throw new Error('no page');
      pages++;
      expect(page.totalCount).toBe(all.length);
      expect(page.edges.map((edge) => edge.node.userName)).toEqual(page.nodes.map((node) => node.userName));
      expect(page.pageInfo.hasPreviousPage).toBe(after !== null);
      forwards.push(...page.nodes.map((node) => node.userName));
      if (!page.pageInfo.hasNextPage) break;
      expect(page.nodes).toHaveLength(7);
      expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)?.cursor);
      after = page.pageInfo.endCursor;
    }
    expect(pages).toBe(Math.ceil(all.length / 7));
    expect(new Set(forwards).size).toBe(forwards.length);
    expect(forwards).toEqual([...all].sort((a, b) => (key(a) < key(b) ? -1 : 1)));

    const backwards: string[] = [];
    let before: string | null = null;
    for (;;) {
      const result: Awaited<ReturnType<typeof stack.graphql<UsersPage>>> = await stack.graphql<UsersPage>(
        PAGE,
        {
          last: 9,
          before,
        },
      );
      const page = result.data?.users;
      if (!page) throw new Error('no page');
      backwards.unshift(...page.nodes.map((node) => node.userName));
      if (!page.pageInfo.hasPreviousPage) break;
      before = page.pageInfo.startCursor;
    }
    expect(backwards).toEqual(forwards);
  });

  it('keeps its place when a user is created between two pages', async () => {
    const first = await stack.graphql<UsersPage>(PAGE, { first: 5 });
    const seen = first.data?.users.nodes.map((node) => node.userName) ?? [];
    // A name that sorts before every other: an offset cursor would now repeat the fifth user. Created straight
    // on the simulator's REST API, as another EPMware client would.
    const created = await request(`${stack.sim.url}/service/api/security/users/sso/create`, {
      method: 'POST',
      headers: { authorization: `Token ${stack.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userName: 'aaa.first', firstName: 'Aaa', email: 'aaa@example.com' }),
    });
    expect(created.statusCode).toBe(200);
    await created.body.dump();
    const next = await stack.graphql<UsersPage>(PAGE, {
      first: 5,
      after: first.data?.users.pageInfo.endCursor,
    });
    const following = next.data?.users.nodes.map((node) => node.userName) ?? [];
    expect(following.filter((name) => seen.includes(name))).toEqual([]);
    const sorted = stack.sim
      .state()
      .users()
      .map((user) => user.userName)
      .sort((a, b) => (key(a) < key(b) ? -1 : 1));
    expect(following).toEqual(sorted.slice(sorted.indexOf(seen.at(-1) as string) + 1).slice(0, 5));
  });

  it('rejects a page size over 1000, a negative one and a foreign cursor before calling EPMware', async () => {
    for (const variables of [
      { first: 1001 },
      { first: -1 },
      { last: 5000 },
      { first: 5, after: 'not-a-cursor' },
    ]) {
      const result = await stack.graphql(PAGE, variables);
      expect(result.errors?.[0]?.extensions?.code, JSON.stringify(variables)).toBe('BAD_USER_INPUT');
    }
    const byName = await stack.graphql<UsersPage>(PAGE, { first: 1 });
    const foreign = await stack.graphql(PAGE, {
      first: 1,
      after: byName.data?.users.pageInfo.endCursor,
      orderBy: { field: 'EMAIL' },
    });
    expect(foreign.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(apiCalls()).toHaveLength(1);
  });

  it('defaults to 100 a page', async () => {
    const big = await startStack({ ...COUNTED_UPSTREAM, simulator: { users: 150, groups: 5 } });
    try {
      const result = await big.graphql<UsersPage>(PAGE, {});
      expect(result.data?.users.nodes).toHaveLength(100);
      expect(result.data?.users.totalCount).toBe(150);
      expect(result.data?.users.pageInfo.hasNextPage).toBe(true);
    } finally {
      await big.close();
    }
  });
});

describe('users filters and ordering', () => {
  const users = () => stack.sim.state().users();
  const names = (list: UpstreamUser[]) => list.map((user) => user.userName).sort();

  it('search is case-insensitive over userName, firstName, lastName and email, every word somewhere', async () => {
    const sample = users()[4] as UpstreamUser;
    const term = (sample.lastName ?? sample.firstName ?? '').toUpperCase();
    const fields = (user: UpstreamUser) => [user.userName, user.firstName, user.lastName, user.email];
    const expected = users().filter((user) =>
      fields(user).some((f) => f?.toLowerCase().includes(term.toLowerCase())),
    );
    expect((await userNames({ filter: { search: term } })).sort()).toEqual(names(expected));
    const both = `${sample.firstName?.toLowerCase()} ${sample.lastName ?? sample.email}`;
    expect(await userNames({ filter: { search: both } })).toContain(sample.userName);
  });

  it('userType goes to EPMware as userType=', async () => {
    const saml = await userNames({ filter: { userType: 'SAML' } });
    expect(saml.sort()).toEqual(names(users().filter((user) => user.userType === 'SAML')));
    expect(apiCalls().map((call) => call.query)).toEqual([{ userType: 'SAML' }]);
  });

  it('enabled, inGroup and the string operators', async () => {
    expect((await userNames({ filter: { enabled: false } })).sort()).toEqual(
      names(users().filter((user) => user.enable === 'N')),
    );
    const members = stack.sim.state().members('Developers').map(key);
    expect(members.length).toBeGreaterThan(0);
    expect((await userNames({ filter: { inGroup: 'DEVELOPERS' } })).map(key).sort()).toEqual(members.sort());
    expect((await userNames({ filter: { userName: { startsWith: 'J' } } })).sort()).toEqual(
      names(users().filter((user) => user.userName.startsWith('j'))),
    );
    expect((await userNames({ filter: { lastName: { isNull: true } } })).sort()).toEqual(
      names(users().filter((user) => user.lastName === null)),
    );
    const mixed = users().find(
      (user) => user.email && user.email !== user.email.toLowerCase(),
    ) as UpstreamUser;
    expect(await userNames({ filter: { email: { eq: mixed.email?.toLowerCase() } } })).toEqual([
      mixed.userName,
    ]);
    expect(
      (await userNames({ filter: { email: { endsWith: mixed.email?.split('@')[1]?.toUpperCase() } } }))
        .length,
    ).toBeGreaterThan(1);
    expect(
      await userNames({ filter: { userName: { in: ['NOBODY', mixed.userName.toUpperCase()] } } }),
    ).toEqual([mixed.userName]);
  });

  it('and / or / not combine conditions', async () => {
    const expected = users().filter((user) => user.userType === 'NATIVE' && user.enable === 'Y');
    expect(
      (await userNames({ filter: { and: [{ userType: 'NATIVE' }], not: { enabled: false } } })).sort(),
    ).toEqual(names(expected));
    const either = users().filter((user) => user.enable === 'N' || user.lastName === null);
    expect(
      (await userNames({ filter: { or: [{ enabled: false }, { lastName: { isNull: true } }] } })).sort(),
    ).toEqual(names(either));
  });

  it('orders by each field, either way, missing values last and ties by user name', async () => {
    const cases = [
      ['FIRST_NAME', (user: UpstreamUser) => user.firstName],
      ['LAST_NAME', (user: UpstreamUser) => user.lastName],
      ['EMAIL', (user: UpstreamUser) => user.email],
      ['USER_NAME', (user: UpstreamUser) => user.userName],
    ] as const;
    for (const [field, value] of cases) {
      for (const direction of ['ASC', 'DESC'] as const) {
        const sign = direction === 'ASC' ? 1 : -1;
        const expected = [...users()]
          .sort((a, b) => {
            const va = value(a)?.toLowerCase() ?? null;
            const vb = value(b)?.toLowerCase() ?? null;
            if (va !== vb) {
              if (va === null) return 1;
              if (vb === null) return -1;
              return (va < vb ? -1 : 1) * sign;
            }
            return key(a.userName) < key(b.userName) ? -1 : 1;
          })
          .map((user) => user.userName);
        expect(await userNames({ orderBy: { field, direction } }), `${field} ${direction}`).toEqual(expected);
      }
    }
  });
});

describe('user(userName)', () => {
  it('finds a user case-insensitively, with the same values as the list', async () => {
    const user = stack.sim.state().users()[2] as UpstreamUser;
    const result = await stack.graphql<{ user: UserNode }>(
      /* GraphQL */ `query($n: String!) { user(userName: $n) { userName firstName lastName email description enabled userType groups { name } } }`,
      { n: user.userName.toUpperCase() },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.user).toEqual(expectedUser(user));
    // A lone user's groups come from /security/users/groups, not every group's member list.
    expect(
      apiCalls()
        .map((call) => call.path)
        .sort(),
    ).toEqual(['/service/api/security/users', '/service/api/security/users/groups']);
  });

  it('is null for an unknown user', async () => {
    const result = await stack.graphql(`{ user(userName: "no.such.user") { userName } }`);
    expect(result).toMatchObject({ data: { user: null } });
    expect(result.errors).toBeUndefined();
  });

  it("keeps sibling data when a user's groups fail upstream, with the contract code", async () => {
    stack.sim.injectFault({ path: '/service/api/security/users/groups', status: 500, message: 'boom' });
    const [deployment] = stack.sim.fixtures.deploymentNames;
    const user = stack.sim.state().users()[0] as UpstreamUser;
    const result = await stack.graphql<{ user: unknown; deployment: { latestExecution: { name: string } } }>(
      /* GraphQL */ `query($u: String!, $d: String!) {
        user(userName: $u) { userName groups { name } }
        deployment(name: $d) { latestExecution { name } }
      }`,
      { u: user.userName, d: deployment },
    );
    expect(result.data?.user).toBeNull();
    expect(result.data?.deployment.latestExecution.name).toBe(deployment);
    expect(result.errors?.[0]).toMatchObject({
      path: ['user', 'groups'],
      extensions: { code: 'UPSTREAM_ERROR', upstreamStatus: 500 },
    });
    expect(result.errors?.[0]?.message).toContain('boom');
  });
});

describe('reads after a write in the same request', () => {
  it("each mutation's User shows the memberships as they now stand (loaders read through the directory)", async () => {
    const user = stack.sim
      .state()
      .users()
      .find((u) => stack.sim.state().groupsOf(u.userName).length === 0);
    if (!user) throw new Error('the simulator seeds users without groups');
    const result = await stack.graphql<Record<string, { enabled: boolean; groups: Array<{ name: string }> }>>(
      /* GraphQL */ `mutation($u: String!) {
        a: assignUserToGroups(userName: $u, groupNames: ["Auditors"]) { enabled groups { name } }
        b: disableUser(userName: $u) { enabled groups { name } }
        c: removeUserFromGroups(userName: $u, groupNames: ["Auditors"]) { enabled groups { name } }
      }`,
      { u: user.userName },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      a: { enabled: true, groups: [{ name: 'Auditors' }] },
      b: { enabled: false, groups: [{ name: 'Auditors' }] },
      c: { enabled: false, groups: [] },
    });
  });
});

describe('node(id) for users, and tokens', () => {
  it('resolves a User id, null for a user EPMware does not have, BAD_USER_INPUT for a malformed id', async () => {
    const user = stack.sim.state().users()[7] as UpstreamUser;
    const id = Buffer.from(`User:${key(user.userName)}`).toString('base64');
    const found = await stack.graphql(
      `query($id: ID!) { node(id: $id) { id ... on User { userName email } } }`,
      { id },
    );
    expect(found.data).toEqual({ node: { id, userName: user.userName, email: user.email } });
    const missing = await stack.graphql(`query($id: ID!) { node(id: $id) { id } }`, {
      id: Buffer.from('User:no.such.user').toString('base64'),
    });
    expect(missing).toMatchObject({ data: { node: null } });
    expect(missing.errors).toBeUndefined();
    stack.sim.clearRequests();
    for (const bad of [
      'garbage',
      Buffer.from('NoSuchType:1').toString('base64'),
      Buffer.from('Query:x').toString('base64'),
    ]) {
      const result = await stack.graphql(`query($id: ID!) { node(id: $id) { id } }`, { id: bad });
      expect(result.errors?.[0]?.extensions?.code, bad).toBe('BAD_USER_INPUT');
      expect(result.data).toEqual({ node: null });
    }
    expect(apiCalls()).toHaveLength(0);
  });

  it('two tokens see their own tenant', async () => {
    const query = `{ users(first: 1000) { totalCount nodes { userName } } }`;
    const primary = await stack.graphql<UsersPage>(query);
    const secondary = await stack.graphql<UsersPage>(query, undefined, { token: stack.sim.tokens.secondary });
    const ofTenant = (token: string) =>
      stack.sim
        .state(token)
        .users()
        .map((user) => user.userName)
        .sort();
    expect(primary.data?.users.nodes.map((node) => node.userName).sort()).toEqual(
      ofTenant(stack.sim.tokens.primary),
    );
    expect(secondary.data?.users.nodes.map((node) => node.userName).sort()).toEqual(
      ofTenant(stack.sim.tokens.secondary),
    );
    expect(primary.data?.users.nodes).not.toEqual(secondary.data?.users.nodes);
    expect(new Set(apiCalls().map((call) => call.token))).toEqual(
      new Set([stack.sim.tokens.primary, stack.sim.tokens.secondary]),
    );
  });
});

function byGroupName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
