// The simulator's security module, auth, request log, faults, HTTP controls and seeded data, over real HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRIMARY_TOKEN, type Simulator, startSimulator } from '../src/simulator/index.ts';
import type {
  UpstreamCreatedUser,
  UpstreamGroup,
  UpstreamGroupUsers,
  UpstreamUpdatedUser,
  UpstreamUser,
  UpstreamUserGroups,
} from '../src/simulator/types.ts';

let sim: Simulator;

interface CallOptions {
  token?: string | null;
  json?: unknown;
  body?: string;
  headers?: Record<string, string>;
}

interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

async function call(method: string, path: string, opts: CallOptions = {}): Promise<CallResult> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? sim.tokens.primary : opts.token;
  if (token !== null && headers.authorization === undefined) headers.authorization = `Token ${token}`;
  let body: string | undefined = opts.body;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  const res = await fetch(`${sim.url}${path}`, { method, headers, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const api = (path: string): string => `/service/api${path}`;
const users = async (): Promise<UpstreamUser[]> =>
  (await call('GET', api('/security/users'))).json as UpstreamUser[];

function expectError(r: CallResult, status: number, message?: string | RegExp): void {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  const body = r.json as { status: string; message: string };
  expect(body.status).toBe('E');
  expect(typeof body.message).toBe('string');
  if (typeof message === 'string') expect(body.message).toBe(message);
  else if (message) expect(body.message).toMatch(message);
}

beforeAll(async () => {
  sim = await startSimulator({ rateLimits: 'relaxed', taskDurationMs: 600 });
});

afterAll(async () => {
  await sim.close();
});

describe('auth and routing', () => {
  it('uses the docs example token for the primary tenant and a different one for the secondary', () => {
    expect(sim.tokens.primary).toBe('15388ad5-c9af-4cf3-af47-8021c1ab3fb7');
    expect(sim.tokens.primary).toBe(PRIMARY_TOKEN);
    expect(sim.tokens.secondary).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(sim.tokens.secondary).not.toBe(sim.tokens.primary);
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('answers 401 without a token, with an unknown token, and with the Bearer scheme', async () => {
    expectError(await call('GET', api('/security/groups'), { token: null }), 401, 'Invalid or missing token');
    expectError(
      await call('GET', api('/security/groups'), { token: 'nope' }),
      401,
      'Invalid or missing token',
    );
    const bearer = await call('GET', api('/security/groups'), {
      headers: { authorization: `Bearer ${sim.tokens.primary}` },
    });
    expectError(bearer, 401, 'Invalid or missing token');
    expect((await call('GET', api('/security/groups'))).status).toBe(200);
  });

  it('answers 404 for an unknown route and 405 for a wrong method, with the error body', async () => {
    expectError(await call('GET', api('/nothing/here')), 404);
    expectError(await call('GET', '/elsewhere'), 404);
    const wrong = await call('GET', api('/deployment/run'));
    expectError(wrong, 405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('answers 400 for a malformed JSON body', async () => {
    const r = await call('POST', api('/security/users/sso/create'), {
      body: '{"userName": ',
      headers: { 'content-type': 'application/json' },
    });
    expectError(r, 400, /JSON/);
  });
});

describe('security reads', () => {
  it('lists users as an array of the documented shape, with the oddities real data has', async () => {
    const r = await call('GET', api('/security/users'));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    const list = r.json as UpstreamUser[];
    expect(list).toHaveLength(60);
    expect(list).toEqual(sim.state().users());
    for (const u of list) {
      expect(u.userName).toMatch(/^[a-z]+\.[a-z]+\d*$/);
      expect(['Y', 'N']).toContain(u.enable);
      expect(['NATIVE', 'SAML']).toContain(u.userType);
    }
    expect(new Set(list.map((u) => u.userName)).size).toBe(list.length);
    expect(list.some((u) => !('description' in u))).toBe(true);
    expect(list.some((u) => typeof u.description === 'string')).toBe(true);
    expect(list.some((u) => u.lastName === null)).toBe(true);
    expect(list.some((u) => u.email !== null && u.email !== u.email.toLowerCase())).toBe(true);
    expect(list.some((u) => u.enable === 'N')).toBe(true);
    expect(list.some((u) => u.userType === 'SAML')).toBe(true);
    expect(list.some((u) => u.userType === 'NATIVE')).toBe(true);
  });

  it('filters by userType and limits by pageSize; rejects bad values with 400', async () => {
    const saml = (await call('GET', api('/security/users?userType=SAML'))).json as UpstreamUser[];
    const native = (await call('GET', api('/security/users?userType=NATIVE'))).json as UpstreamUser[];
    expect(saml.length).toBeGreaterThan(0);
    expect(saml.every((u) => u.userType === 'SAML')).toBe(true);
    expect(native.every((u) => u.userType === 'NATIVE')).toBe(true);
    expect(saml.length + native.length).toBe(60);
    const page = (await call('GET', api('/security/users?pageSize=5'))).json as UpstreamUser[];
    expect(page).toEqual((await users()).slice(0, 5));
    expectError(await call('GET', api('/security/users?userType=LDAP')), 400);
    expectError(await call('GET', api('/security/users?pageSize=0')), 400);
    expectError(await call('GET', api('/security/users?pageSize=abc')), 400);
  });

  it('lists groups including the documented names', async () => {
    const r = await call('GET', api('/security/groups'));
    expect(r.status).toBe(200);
    const groups = r.json as UpstreamGroup[];
    expect(groups).toHaveLength(14);
    expect(groups.map((g) => g.name)).toEqual(
      expect.arrayContaining(['Approver', 'Reviewer', 'Admin', 'Developers', 'Finance']),
    );
    for (const g of groups) expect(Object.keys(g).sort()).toEqual(['description', 'enable', 'name']);
  });

  it('names members in upper case, consistently between users/groups and groups/users', async () => {
    const all = (await call('GET', api('/security/groups/users'))).json as UpstreamGroupUsers[];
    expect(all).toHaveLength(14);
    const someone = all.find((g) => g.users.length > 0)?.users[0];
    expect(someone).toBeDefined();
    expect(someone).toBe(someone?.toUpperCase());
    const lower = (someone ?? '').toLowerCase();
    const mine = await call('GET', api(`/security/users/groups?userName=${encodeURIComponent(lower)}`));
    expect(mine.status).toBe(200);
    const body = mine.json as UpstreamUserGroups;
    expect(body.userName).toBe(someone);
    const expected = all.filter((g) => g.users.includes(someone ?? '')).map((g) => g.groupName);
    expect([...body.groups].sort()).toEqual([...expected].sort());
    expect(body.groups).toEqual(sim.state().groupsOf(lower));
  });

  it('finds one group case-insensitively; 404 for an unknown group', async () => {
    const r = await call('GET', api('/security/groups/users?groupName=aPPROVER'));
    expect(r.status).toBe(200);
    expect(r.json).toEqual([{ groupName: 'Approver', users: sim.state().members('Approver') }]);
    expectError(
      await call('GET', api('/security/groups/users?groupName=Nobody')),
      404,
      "Group 'Nobody' not found",
    );
  });

  it('answers users/groups with 400 without userName and 404 for an unknown user', async () => {
    expectError(await call('GET', api('/security/users/groups')), 400);
    expectError(
      await call('GET', api('/security/users/groups?userName=no.one')),
      404,
      "User 'no.one' not found",
    );
  });
});

describe('security writes', () => {
  it('creates an SSO user visible in every read; 409 for the same name in any case', async () => {
    const r = await call('POST', api('/security/users/sso/create'), {
      json: {
        userName: 'SSO_USER1',
        firstName: 'John',
        lastName: 'Smith',
        email: 'john.smith@example.com',
        description: 'Finance user',
      },
    });
    expect(r.status).toBe(200);
    const created = r.json as UpstreamCreatedUser;
    expect(created).toEqual({
      id: expect.stringMatching(/^\d+$/),
      userName: 'SSO_USER1',
      email: 'john.smith@example.com',
      enable: 'Y',
    });
    const listed = (await users()).find((u) => u.userName === 'SSO_USER1');
    expect(listed).toEqual({
      userName: 'SSO_USER1',
      firstName: 'John',
      lastName: 'Smith',
      email: 'john.smith@example.com',
      enable: 'Y',
      userType: 'SAML',
      description: 'Finance user',
    });
    const groups = await call('GET', api('/security/users/groups?userName=sso_user1'));
    expect(groups.json).toEqual({ userName: 'SSO_USER1', groups: [] });
    const again = await call('POST', api('/security/users/sso/create'), {
      json: { userName: 'sso_user1', firstName: 'J', email: 'j@example.com' },
    });
    expectError(again, 409, "User 'sso_user1' already exists");
  });

  it('rejects a create without a required field or with a bad email, naming the field', async () => {
    const base = { userName: 'new.person', firstName: 'New', email: 'new.person@example.com' };
    for (const field of ['userName', 'firstName', 'email'] as const) {
      const { [field]: _omitted, ...rest } = base;
      expectError(
        await call('POST', api('/security/users/sso/create'), { json: rest }),
        400,
        new RegExp(field),
      );
    }
    expectError(
      await call('POST', api('/security/users/sso/create'), { json: { ...base, email: 'not-an-email' } }),
      400,
      /email/,
    );
    expect((await users()).some((u) => u.userName === 'new.person')).toBe(false);
  });

  it('updates a user; 400 for a bad email, 404 for an unknown user', async () => {
    const created = (
      await call('POST', api('/security/users/sso/create'), {
        json: { userName: 'upd.user', firstName: 'Up', email: 'upd@example.com' },
      })
    ).json as UpstreamCreatedUser;
    const r = await call('PUT', api('/security/users/sso/update/UPD.USER'), {
      json: { lastName: 'Dated', email: 'upd.new@example.com', description: 'Updated description' },
    });
    expect(r.status).toBe(200);
    const updated = r.json as UpstreamUpdatedUser;
    expect(updated.id).toBe(created.id);
    expect(updated.userName).toBe('upd.user');
    expect(updated.updateDate).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const row = (await users()).find((u) => u.userName === 'upd.user');
    expect(row).toMatchObject({
      firstName: 'Up',
      lastName: 'Dated',
      email: 'upd.new@example.com',
      description: 'Updated description',
    });
    expectError(
      await call('PUT', api('/security/users/sso/update/upd.user'), { json: { email: 'bad' } }),
      400,
      /email/,
    );
    expectError(
      await call('PUT', api('/security/users/sso/update/ghost'), { json: { firstName: 'G' } }),
      404,
    );
  });

  it('enables and disables a user, visible in the list; 404 for an unknown user', async () => {
    const name = (await users())[0]?.userName ?? '';
    const off = await call('PATCH', api(`/security/users/sso/disable/${name.toUpperCase()}`));
    expect(off.status).toBe(200);
    expect(off.json).toEqual({ value: 'User status disabled successfully' });
    expect((await users())[0]?.enable).toBe('N');
    const on = await call('PATCH', api(`/security/users/sso/enable/${name}`));
    expect(on.json).toEqual({ value: 'User status enabled successfully' });
    expect((await users())[0]?.enable).toBe('Y');
    expectError(await call('PATCH', api('/security/users/sso/enable/ghost')), 404);
    expectError(await call('PATCH', api('/security/users/sso/disable/ghost')), 404);
  });

  it('assigns and unassigns groups, visible in both membership reads', async () => {
    await call('POST', api('/security/users/sso/create'), {
      json: { userName: 'grp.user', firstName: 'G', email: 'grp@example.com' },
    });
    const assign = await call('POST', api('/security/users/sso/assign_groups'), {
      json: { userName: 'GRP.USER', groupNames: ['approver', 'Reviewer', 'Admin'] },
    });
    expect(assign.status).toBe(200);
    expect(assign.json).toEqual({ value: 'User successfully assigned to the specified groups' });
    const mine = (await call('GET', api('/security/users/groups?userName=grp.user')))
      .json as UpstreamUserGroups;
    expect(mine).toEqual({ userName: 'GRP.USER', groups: ['Approver', 'Reviewer', 'Admin'] });
    const approvers = (await call('GET', api('/security/groups/users?groupName=Approver')))
      .json as UpstreamGroupUsers[];
    expect(approvers[0]?.users).toContain('GRP.USER');

    const remove = await call('POST', api('/security/users/sso/unassign_groups'), {
      json: { userName: 'grp.user', groupNames: ['Approver', 'REVIEWER'] },
    });
    expect(remove.json).toEqual({ value: 'User successfully removed from the specified groups' });
    expect(sim.state().groupsOf('grp.user')).toEqual(['Admin']);
    expect(sim.state().members('Approver')).not.toContain('GRP.USER');
  });

  it('rejects assignment changes atomically: 404 for any unknown group or user, 400 for empty input', async () => {
    const before = sim.state().groupsOf('grp.user');
    const r = await call('POST', api('/security/users/sso/assign_groups'), {
      json: { userName: 'grp.user', groupNames: ['Finance', 'NoSuchGroup'] },
    });
    expectError(r, 404, "Group 'NoSuchGroup' not found");
    expect(sim.state().groupsOf('grp.user')).toEqual(before);
    expect(sim.state().members('Finance')).not.toContain('GRP.USER');
    expectError(
      await call('POST', api('/security/users/sso/unassign_groups'), {
        json: { userName: 'grp.user', groupNames: ['Admin', 'NoSuchGroup'] },
      }),
      404,
    );
    expect(sim.state().groupsOf('grp.user')).toEqual(before);
    expectError(
      await call('POST', api('/security/users/sso/assign_groups'), {
        json: { userName: 'ghost', groupNames: ['Admin'] },
      }),
      404,
      "User 'ghost' not found",
    );
    for (const json of [
      { userName: 'grp.user', groupNames: [] },
      { userName: 'grp.user' },
      { groupNames: ['Admin'] },
    ]) {
      expectError(await call('POST', api('/security/users/sso/assign_groups'), { json }), 400);
      expectError(await call('POST', api('/security/users/sso/unassign_groups'), { json }), 400);
    }
  });

  it('answers 503 for the security module while its service is down', async () => {
    sim.setServiceDown('security', true);
    try {
      expectError(await call('GET', api('/security/users')), 503, 'Security Service is not running');
    } finally {
      sim.setServiceDown('security', false);
    }
    expect((await call('GET', api('/security/users'))).status).toBe(200);
  });
});

describe('tenants', () => {
  it('gives the secondary token its own, different data', async () => {
    const primary = await users();
    const secondary = (await call('GET', api('/security/users'), { token: sim.tokens.secondary }))
      .json as UpstreamUser[];
    expect(secondary.length).toBeGreaterThanOrEqual(20);
    expect(secondary.length).toBeLessThan(primary.length);
    const primaryNames = new Set(primary.map((u) => u.userName));
    expect(secondary.some((u) => primaryNames.has(u.userName))).toBe(false);
    const groups = (await call('GET', api('/security/groups'), { token: sim.tokens.secondary }))
      .json as UpstreamGroup[];
    expect(groups.length).toBeLessThan(14);
    const primaryUser = primary[0]?.userName ?? '';
    expectError(
      await call('GET', api(`/security/users/groups?userName=${primaryUser}`), {
        token: sim.tokens.secondary,
      }),
      404,
    );
    expect(sim.state(sim.tokens.secondary).users()).toEqual(secondary);
  });
});

describe('seeded data', () => {
  it('generates 10_000 users and 500 groups quickly and deterministically', async () => {
    const started = Date.now();
    const a = await startSimulator({ users: 10_000, groups: 500, seed: 7 });
    const b = await startSimulator({ users: 10_000, groups: 500, seed: 7 });
    const c = await startSimulator({ users: 10_000, groups: 500, seed: 8 });
    try {
      expect(Date.now() - started).toBeLessThan(5_000);
      const usersA = a.state().users();
      expect(usersA).toHaveLength(10_000);
      expect(new Set(usersA.map((u) => u.userName.toLowerCase())).size).toBe(10_000);
      expect(usersA.some((u) => /\d$/.test(u.userName))).toBe(true);
      expect(b.state().users()).toEqual(usersA);
      expect(c.state().users()).not.toEqual(usersA);
      const groupsA = a.state().groups();
      expect(groupsA).toHaveLength(500);
      expect(new Set(groupsA.map((g) => g.name)).size).toBe(500);
      expect(b.state().groups()).toEqual(groupsA);
      expect(b.state().members('Approver')).toEqual(a.state().members('Approver'));
      // Each user is in 0-4 groups.
      const counts = usersA.slice(0, 500).map((u) => a.state().groupsOf(u.userName).length);
      expect(Math.max(...counts)).toBeLessThanOrEqual(4);
      expect(Math.min(...counts)).toBe(0);
      const r = await fetch(`${a.url}/service/api/security/users`, {
        headers: { authorization: `Token ${a.tokens.primary}` },
      });
      expect(((await r.json()) as unknown[]).length).toBe(10_000);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });
});

describe('request log', () => {
  it('records method, path, query, headers, token, body and status, and can be filtered and cleared', async () => {
    sim.clearRequests();
    await call('GET', api('/security/users?userType=SAML&pageSize=2'));
    await call('POST', api('/security/users/sso/create'), { json: { userName: 'x' } });
    await call('GET', api('/security/groups'), { token: 'wrong' });
    const all = sim.requests();
    expect(all).toHaveLength(3);
    const [first, second, third] = all;
    expect(first).toMatchObject({
      method: 'GET',
      path: '/service/api/security/users',
      query: { userType: 'SAML', pageSize: '2' },
      token: sim.tokens.primary,
      status: 200,
      body: undefined,
    });
    expect(first?.headers.authorization).toBe(`Token ${sim.tokens.primary}`);
    expect(first?.at).toBeGreaterThan(Date.now() - 10_000);
    expect(second).toMatchObject({ method: 'POST', body: { userName: 'x' }, status: 400 });
    expect(third).toMatchObject({ token: 'wrong', status: 401 });
    expect((second?.seq ?? 0) > (first?.seq ?? 0)).toBe(true);
    expect(sim.requests({ method: 'post' })).toHaveLength(1);
    expect(sim.requests({ path: '/service/api/security/*' })).toHaveLength(3);
    expect(sim.requests({ path: '/service/api/security/groups' })).toHaveLength(1);
    sim.clearRequests();
    expect(sim.requests()).toHaveLength(0);
  });
});

describe('faults', () => {
  it('answers an injected status the given number of times, then normally', async () => {
    sim.injectFault({ path: '/service/api/security/groups', status: 503, message: 'Maintenance', times: 2 });
    expectError(await call('GET', api('/security/groups')), 503, 'Maintenance');
    expectError(await call('GET', api('/security/groups')), 503, 'Maintenance');
    expect((await call('GET', api('/security/groups'))).status).toBe(200);
  });

  it('matches by path prefix, method and token', async () => {
    sim.injectFault({
      path: '/service/api/security/users/*',
      method: 'GET',
      token: sim.tokens.secondary,
      status: 500,
    });
    try {
      expect((await call('GET', api('/security/users/groups?userName=sso_user1'))).status).toBe(200);
      const r = await call('GET', api('/security/users/groups?userName=x'), { token: sim.tokens.secondary });
      expectError(r, 500);
    } finally {
      sim.clearFaults();
    }
    expect(
      (await call('GET', api('/security/users/groups?userName=x'), { token: sim.tokens.secondary })).status,
    ).toBe(404);
  });

  it('delays a request, then handles it normally', async () => {
    sim.injectFault({ path: '/service/api/security/groups', delayMs: 250, times: 1 });
    const started = Date.now();
    const r = await call('GET', api('/security/groups'));
    expect(r.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
  });

  it('resets the connection without answering, and logs status 0', async () => {
    sim.clearRequests();
    sim.injectFault({ path: '/service/api/security/groups', reset: true, times: 1 });
    await expect(call('GET', api('/security/groups'))).rejects.toThrow();
    expect(sim.requests()[0]?.status).toBe(0);
    expect((await call('GET', api('/security/groups'))).status).toBe(200);
  });

  it('sends 429 with Retry-After', async () => {
    sim.injectFault({ path: '/service/api/security/groups', status: 429, retryAfter: '3', times: 1 });
    const r = await call('GET', api('/security/groups'));
    expectError(r, 429);
    expect(r.headers.get('retry-after')).toBe('3');
  });

  it('adds configured latency to every response', async () => {
    sim.configure({ latencyMs: 150 });
    try {
      const started = Date.now();
      expect((await call('GET', api('/security/groups'))).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    } finally {
      sim.configure({ latencyMs: 0 });
    }
  });

  it('rejects a fault without a path', () => {
    expect(() => sim.injectFault({ path: '' })).toThrow();
  });
});

describe('HTTP controls', () => {
  const control = async (method: string, path: string, json?: unknown): Promise<CallResult> =>
    call(method, `/__sim${path}`, json === undefined ? { token: null } : { token: null, json });

  it('exposes the log, faults, config, services and export expiry without being logged', async () => {
    await control('DELETE', '/requests');
    await call('GET', api('/security/groups'));
    const log = await control('GET', '/requests');
    expect(log.status).toBe(200);
    expect((log.json as { path: string }[]).map((e) => e.path)).toEqual(['/service/api/security/groups']);
    expect((await control('GET', '/requests?path=/service/api/task/*')).json).toEqual([]);

    expect(
      (await control('POST', '/faults', { path: '/service/api/security/groups', status: 502, times: 1 }))
        .status,
    ).toBe(200);
    expect((await call('GET', api('/security/groups'))).status).toBe(502);
    await control('POST', '/faults', { path: '/service/api/security/groups', status: 502 });
    await control('DELETE', '/faults');
    expect((await call('GET', api('/security/groups'))).status).toBe(200);
    expect((await control('POST', '/faults', { status: 500 })).status).toBe(400);

    expect((await control('PUT', '/services/security', { down: true })).status).toBe(200);
    expect((await call('GET', api('/security/groups'))).status).toBe(503);
    await control('PUT', '/services/security', { down: false });
    expect((await call('GET', api('/security/groups'))).status).toBe(200);
    expect((await control('PUT', '/services/nothing', { down: true })).status).toBe(404);

    expect((await control('POST', '/config', { latencyMs: 120 })).status).toBe(200);
    const started = Date.now();
    await call('GET', api('/security/groups'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
    await control('POST', '/config', { latencyMs: 0 });

    const exportTask = sim.fixtures.exportTaskId;
    expect((await call('GET', api(`/export/download_file/${exportTask}`))).status).toBe(200);
    expect((await control('POST', `/exports/${exportTask}/expire`)).status).toBe(200);
    expectError(await call('GET', api(`/export/download_file/${exportTask}`)), 410);
    expect((await control('POST', '/exports/1/expire')).status).toBe(404);

    const info = (await control('GET', '/info')).json as {
      tokens: { primary: string };
      fixtures: { exportTaskId: string };
    };
    expect(info.tokens.primary).toBe(sim.tokens.primary);
    expect(info.fixtures.exportTaskId).toBe(exportTask);

    const paths = sim.requests().map((e) => e.path);
    expect(paths.some((p) => p.startsWith('/__sim'))).toBe(false);
  });
});
