/**
 * SSO user mutations: one upstream write with the documented method, path and body; the user returned as it now
 * stands; the next read (in the same request or the next, past the upstream cache) shows the change.
 */
import { describe, expect, it } from 'vitest';
import { stackForFile } from './harness.ts';

// The default CACHE_TTL_MS stays on: a read cached before a write must not be served after it.
const stack = stackForFile({
  env: { UPSTREAM_RATE_LIMIT_PER_MIN: '100000' },
  logStream: { write: () => {} },
});

const USER_FIELDS = 'userName firstName lastName email description enabled groups { name }';

interface UserAnswer {
  userName: string;
  firstName: string | null;
  lastName: string | null;
  email: string | null;
  description: string | null;
  enabled: boolean;
  groups: Array<{ name: string }>;
}

function writes() {
  return stack.sim.requests({ path: '/service/api/security/users/sso/*' });
}

async function readUser(userName: string): Promise<UserAnswer | null | undefined> {
  const answer = await stack.graphql<{ user: UserAnswer | null }>(
    `query ($u: String!) { user(userName: $u) { ${USER_FIELDS} } }`,
    { u: userName },
  );
  expect(answer.errors).toBeUndefined();
  return answer.data?.user;
}

/** A user of the simulator's tenant with the given enable flag. */
function someUser(enable: 'Y' | 'N' = 'Y'): string {
  const user = stack.sim
    .state()
    .users()
    .find((candidate) => candidate.enable === enable);
  if (!user) throw new Error(`the simulator has no user with enable=${enable}`);
  return user.userName;
}

describe('createSsoUser', () => {
  it('POSTs the documented body once and returns the new user, which the next query shows', async () => {
    // Warm the upstream cache with the users list the new user is not in yet.
    await stack.graphql('{ users(first: 5) { totalCount } }');
    stack.sim.clearRequests();
    const input = {
      userName: 'sso.created1',
      firstName: 'Ada',
      lastName: 'Lovelace',
      email: 'ada@example.com',
      description: 'Finance user',
    };
    const answer = await stack.graphql<{ createSsoUser: UserAnswer }>(
      `mutation ($input: CreateSsoUserInput!) { createSsoUser(input: $input) { ${USER_FIELDS} } }`,
      { input },
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.createSsoUser).toMatchObject({ ...input, enabled: true, groups: [] });
    expect(writes()).toHaveLength(1);
    expect(writes()[0]).toMatchObject({
      method: 'POST',
      path: '/service/api/security/users/sso/create',
      body: input,
    });
    expect(
      stack.sim
        .state()
        .users()
        .some((user) => user.userName === input.userName),
    ).toBe(true);
    // Case-insensitive lookup, and past the cached list.
    expect(await readUser('SSO.CREATED1')).toMatchObject({ userName: input.userName, email: input.email });
  });

  it('sends only the fields given', async () => {
    const input = { userName: 'sso.created2', firstName: 'Grace', email: 'grace@example.com' };
    const answer = await stack.graphql(
      'mutation ($input: CreateSsoUserInput!) { createSsoUser(input: $input) { userName lastName } }',
      { input },
    );
    expect(answer.errors).toBeUndefined();
    expect(writes()[0]?.body).toEqual(input);
  });

  it('an existing user is CONFLICT with EPMware’s message, after one request', async () => {
    const existing = someUser();
    const answer = await stack.graphql(
      'mutation ($input: CreateSsoUserInput!) { createSsoUser(input: $input) { userName } }',
      { input: { userName: existing, firstName: 'X', email: 'x@example.com' } },
    );
    expect(answer.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(answer.errors?.[0]?.extensions?.upstreamStatus).toBe(409);
    expect(answer.errors?.[0]?.message).toMatch(/already exists/);
    expect(writes()).toHaveLength(1);
  });
});

describe('updateSsoUser', () => {
  it('PUTs the changed fields once and returns the user as it now stands', async () => {
    const userName = someUser();
    await readUser(userName);
    stack.sim.clearRequests();
    const answer = await stack.graphql<{ updateSsoUser: UserAnswer }>(
      `mutation ($u: String!) { updateSsoUser(userName: $u, input: { lastName: "Hopper", email: "new.mail@example.com" }) { ${USER_FIELDS} } }`,
      { u: userName },
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.updateSsoUser).toMatchObject({
      userName,
      lastName: 'Hopper',
      email: 'new.mail@example.com',
    });
    expect(writes()).toHaveLength(1);
    expect(writes()[0]).toMatchObject({
      method: 'PUT',
      path: `/service/api/security/users/sso/update/${encodeURIComponent(userName)}`,
      body: { lastName: 'Hopper', email: 'new.mail@example.com' },
    });
    expect(await readUser(userName)).toMatchObject({ lastName: 'Hopper', email: 'new.mail@example.com' });
  });

  it('an unknown user is NOT_FOUND', async () => {
    const answer = await stack.graphql(
      'mutation { updateSsoUser(userName: "no.such.user", input: { firstName: "X" }) { userName } }',
    );
    expect(answer.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(answer.errors?.[0]?.message).toMatch(/no\.such\.user/);
  });
});

describe('enableUser / disableUser', () => {
  it('PATCHes once and the change shows at once, even later in the same request', async () => {
    const userName = someUser('Y');
    await readUser(userName);
    stack.sim.clearRequests();
    const answer = await stack.graphql<{ off: UserAnswer; on: UserAnswer; offAgain: UserAnswer }>(
      `mutation ($u: String!) {
        off: disableUser(userName: $u) { enabled }
        on: enableUser(userName: $u) { enabled }
        offAgain: disableUser(userName: $u) { userName enabled }
      }`,
      { u: userName },
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data).toEqual({
      off: { enabled: false },
      on: { enabled: true },
      offAgain: { userName, enabled: false },
    });
    const path = (action: string) =>
      `/service/api/security/users/sso/${action}/${encodeURIComponent(userName)}`;
    expect(writes().map((request) => [request.method, request.path])).toEqual([
      ['PATCH', path('disable')],
      ['PATCH', path('enable')],
      ['PATCH', path('disable')],
    ]);
    expect((await readUser(userName))?.enabled).toBe(false);
    const enabled = await stack.graphql<{ enableUser: UserAnswer }>(
      'mutation ($u: String!) { enableUser(userName: $u) { enabled } }',
      { u: userName },
    );
    expect(enabled.data?.enableUser.enabled).toBe(true);
    expect((await readUser(userName))?.enabled).toBe(true);
  });

  it('an unknown user is NOT_FOUND', async () => {
    const answer = await stack.graphql('mutation { enableUser(userName: "no.such.user") { enabled } }');
    expect(answer.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(writes()).toHaveLength(1);
  });

  it('503 is UPSTREAM_UNAVAILABLE after exactly one request (a PATCH is never retried)', async () => {
    stack.sim.setServiceDown('security', true);
    try {
      const answer = await stack.graphql('mutation ($u: String!) { disableUser(userName: $u) { enabled } }', {
        u: someUser(),
      });
      expect(answer.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    } finally {
      stack.sim.setServiceDown('security', false);
    }
    expect(writes()).toHaveLength(1);
  });
});

describe('assignUserToGroups / removeUserFromGroups', () => {
  it('POSTs {userName, groupNames} once and the user’s groups show the change', async () => {
    const userName = someUser();
    const view = stack.sim.state();
    const theirs = new Set(view.groupsOf(userName).map((name) => name.toLowerCase()));
    const others = view
      .groups()
      .map((group) => group.name)
      .filter((name) => !theirs.has(name.toLowerCase()))
      .slice(0, 2);
    expect(others).toHaveLength(2);
    await readUser(userName);
    stack.sim.clearRequests();

    const assigned = await stack.graphql<{ assignUserToGroups: UserAnswer }>(
      'mutation ($u: String!, $g: [String!]!) { assignUserToGroups(userName: $u, groupNames: $g) { groups { name } } }',
      { u: userName, g: others },
    );
    expect(assigned.errors).toBeUndefined();
    const assignedNames = assigned.data?.assignUserToGroups.groups.map((group) => group.name.toLowerCase());
    for (const name of others) expect(assignedNames).toContain(name.toLowerCase());
    expect(writes()).toHaveLength(1);
    expect(writes()[0]).toMatchObject({
      method: 'POST',
      path: '/service/api/security/users/sso/assign_groups',
      body: { userName, groupNames: others },
    });
    const afterAssign = (await readUser(userName))?.groups.map((group) => group.name.toLowerCase());
    for (const name of others) expect(afterAssign).toContain(name.toLowerCase());

    stack.sim.clearRequests();
    const removed = await stack.graphql<{ removeUserFromGroups: UserAnswer }>(
      'mutation ($u: String!, $g: [String!]!) { removeUserFromGroups(userName: $u, groupNames: $g) { groups { name } } }',
      { u: userName, g: others },
    );
    expect(removed.errors).toBeUndefined();
    expect(writes()).toHaveLength(1);
    expect(writes()[0]).toMatchObject({
      path: '/service/api/security/users/sso/unassign_groups',
      body: { userName, groupNames: others },
    });
    const afterRemove = (await readUser(userName))?.groups.map((group) => group.name.toLowerCase());
    for (const name of others) expect(afterRemove).not.toContain(name.toLowerCase());
  });

  it('an unknown group is NOT_FOUND', async () => {
    const answer = await stack.graphql(
      'mutation ($u: String!) { assignUserToGroups(userName: $u, groupNames: ["No Such Group"]) { userName } }',
      { u: someUser() },
    );
    expect(answer.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(answer.errors?.[0]?.message).toMatch(/No Such Group/);
  });
});

describe('setUsersEnabled', () => {
  it('answers one result per name in order; an unknown user fails alone', async () => {
    const [first, second] = stack.sim
      .state()
      .users()
      .filter((user) => user.enable === 'Y')
      .map((user) => user.userName);
    const names = [first ?? '', 'no.such.user', (second ?? '').toUpperCase()];
    const answer = await stack.graphql<{
      setUsersEnabled: Array<{
        userName: string;
        ok: boolean;
        user: { userName: string; enabled: boolean } | null;
        error: { code: string; message: string } | null;
      }>;
    }>(
      'mutation ($n: [String!]!) { setUsersEnabled(userNames: $n, enabled: false) { userName ok user { userName enabled } error { code message } } }',
      { n: names },
    );
    expect(answer.errors).toBeUndefined();
    const results = answer.data?.setUsersEnabled ?? [];
    expect(results.map((result) => [result.userName, result.ok])).toEqual([
      [names[0], true],
      ['no.such.user', false],
      [names[2], true],
    ]);
    expect(results[0]?.user).toEqual({ userName: first, enabled: false });
    expect(results[2]?.user).toEqual({ userName: second, enabled: false });
    expect(results[1]?.user).toBeNull();
    expect(results[1]?.error?.code).toBe('NOT_FOUND');
    expect(results[1]?.error?.message).toMatch(/no\.such\.user/);
    expect(writes()).toHaveLength(3);
    expect(
      writes().every((request) => request.method === 'PATCH' && request.path.includes('/sso/disable/')),
    ).toBe(true);
    const disabled = stack.sim
      .state()
      .users()
      .filter((user) => user.userName === first || user.userName === second);
    expect(disabled.map((user) => user.enable)).toEqual(['N', 'N']);
  });

  it('writes once per user even when a name is repeated, and runs a few at a time', async () => {
    const names = stack.sim
      .state()
      .users()
      .slice(0, 9)
      .map((user) => user.userName);
    stack.sim.configure({ latencyMs: 30 });
    try {
      const answer = await stack.graphql<{ setUsersEnabled: Array<{ ok: boolean }> }>(
        'mutation ($n: [String!]!) { setUsersEnabled(userNames: $n, enabled: true) { ok } }',
        { n: [...names, names[0]?.toUpperCase()] },
      );
      expect(answer.data?.setUsersEnabled).toHaveLength(10);
      expect(answer.data?.setUsersEnabled.every((result) => result.ok)).toBe(true);
    } finally {
      stack.sim.configure({ latencyMs: 0 });
    }
    const patches = writes();
    expect(patches).toHaveLength(9);
    // At most 4 in flight: no request starts before the 4th one before it has been received and answered.
    const starts = patches.map((request) => request.at).sort((a, b) => a - b);
    for (let index = 4; index < starts.length; index++) {
      expect((starts[index] ?? 0) - (starts[index - 4] ?? 0)).toBeGreaterThanOrEqual(25);
    }
  });
});

describe('validation: BAD_USER_INPUT and no upstream request', () => {
  const cases: Array<[string, string]> = [
    [
      'blank userName',
      'mutation { createSsoUser(input: { userName: " ", firstName: "A", email: "a@b.co" }) { userName } }',
    ],
    [
      'blank firstName',
      'mutation { createSsoUser(input: { userName: "u", firstName: "", email: "a@b.co" }) { userName } }',
    ],
    [
      'bad email',
      'mutation { createSsoUser(input: { userName: "u", firstName: "A", email: "not-an-email" }) { userName } }',
    ],
    ['update with nothing to change', 'mutation { updateSsoUser(userName: "u", input: {}) { userName } }'],
    [
      'update with a bad email',
      'mutation { updateSsoUser(userName: "u", input: { email: "x@" }) { userName } }',
    ],
    [
      'update a blank userName',
      'mutation { updateSsoUser(userName: "", input: { firstName: "A" }) { userName } }',
    ],
    ['enable a blank userName', 'mutation { enableUser(userName: "  ") { userName } }'],
    ['disable a blank userName', 'mutation { disableUser(userName: "") { userName } }'],
    ['no groups to assign', 'mutation { assignUserToGroups(userName: "u", groupNames: []) { userName } }'],
    [
      'a blank group to remove',
      'mutation { removeUserFromGroups(userName: "u", groupNames: ["A", " "]) { userName } }',
    ],
    ['no users to enable', 'mutation { setUsersEnabled(userNames: [], enabled: true) { ok } }'],
    ['a blank user to disable', 'mutation { setUsersEnabled(userNames: ["a", ""], enabled: false) { ok } }'],
  ];
  it.each(cases)('%s', async (_label, mutation) => {
    const answer = await stack.graphql(mutation);
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(stack.sim.requests()).toHaveLength(0);
  });

  it('more than 1000 users in one setUsersEnabled', async () => {
    const names = Array.from({ length: 1001 }, (_, index) => `user${index}`);
    const answer = await stack.graphql(
      'mutation ($n: [String!]!) { setUsersEnabled(userNames: $n, enabled: true) { ok } }',
      {
        n: names,
      },
    );
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(stack.sim.requests()).toHaveLength(0);
  });
});
