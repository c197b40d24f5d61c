/**
 * GET /reports/{documentId}.csv and .ndjson: a persisted query's first list of objects as rows, parsed back with a
 * real RFC 4180 parser (csv-parse) and compared with the simulator's data for every user, including one whose
 * names hold a comma, quotes and a line break; variables in the URL; tokens (401 without, each token its own rows);
 * refusals (unknown id, a mutation) without upstream calls; a GraphQL error as JSON, never half a CSV; and rows
 * arriving as a stream.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../src/persisted/manifest.ts';
import type { UpstreamUser } from '../src/simulator/index.ts';
import { type Stack, startStack } from './harness.ts';
import { type ManifestFile, writeManifestFile } from './persisted-fixture.ts';

let manifest: ManifestFile;
let stack: Stack;

const QUOTED_USER = {
  userName: 'report.quoted',
  firstName: 'Zoë\r\n"Zed"',
  lastName: 'Doe, "Jr."',
  email: 'zoe.doe@example.com',
};

/** Aliases, an inline fragment and a field that is not a list before the list: columns follow response keys. */
const ALIASED = `query Aliased {
  count: users(first: 3, orderBy: { field: USER_NAME }) {
    totalCount
    people: nodes {
      name: userName
      ... on User { mail: email }
      groups { n: name }
    }
  }
}`;
const NO_LIST = 'query NoSuchUser { user(userName: "no.such.user") { userName groups { name } } }';

beforeAll(async () => {
  manifest = writeManifestFile({ [sha256Hex(ALIASED)]: ALIASED, [sha256Hex(NO_LIST)]: NO_LIST });
  stack = await startStack({ env: { PERSISTED_DOCUMENTS: manifest.path, CACHE_TTL_MS: '0' } });
  const created = await stack.graphql(
    'mutation ($input: CreateSsoUserInput!) { createSsoUser(input: $input) { userName } }',
    { input: QUOTED_USER },
  );
  expect(created.errors).toBeUndefined();
  // The user's groups show as one cell, so give it two.
  const groups = stack.sim
    .state()
    .groups()
    .slice(0, 2)
    .map((group) => group.name);
  const assigned = await stack.graphql(
    'mutation ($u: String!, $g: [String!]!) { assignUserToGroups(userName: $u, groupNames: $g) { userName } }',
    { u: QUOTED_USER.userName, g: groups },
  );
  expect(assigned.errors).toBeUndefined();
});
afterAll(async () => {
  await stack.close();
  manifest.remove();
});

interface Report {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  chunks: number;
}

async function report(
  path: string,
  options: { token?: string | null; variables?: unknown; on?: Stack } = {},
): Promise<Report> {
  const on = options.on ?? stack;
  const url = new URL(path, on.origin);
  if (options.variables !== undefined) url.searchParams.set('variables', JSON.stringify(options.variables));
  const token = options.token === undefined ? on.token : options.token;
  const response = await request(url, { headers: token ? { authorization: `Token ${token}` } : {} });
  let text = '';
  let chunks = 0;
  for await (const chunk of response.body) {
    chunks++;
    text += (chunk as Buffer).toString('utf8');
  }
  return { status: response.statusCode, headers: response.headers, text, chunks };
}

const ACCESS_REVIEW_COLUMNS = [
  'userName',
  'firstName',
  'lastName',
  'email',
  'enabled',
  'userType',
  'groups.name',
];

/** What a row of AccessReviewReport must hold for a user, as the simulator has it (groups as a set). */
function expectedRow(user: UpstreamUser, token?: string) {
  return {
    userName: user.userName,
    firstName: user.firstName,
    lastName: user.lastName,
    email: user.email,
    enabled: user.enable === 'Y',
    userType: user.userType,
    'groups.name': groupSet(stack.sim.state(token).groupsOf(user.userName).join('; ')),
  };
}

function groupSet(cell: unknown): string[] {
  return typeof cell === 'string' && cell !== '' ? cell.split('; ').sort() : [];
}

/** A CSV row back to typed values, for the comparison (CSV has no types: "" is null, "true" is true). */
function typedCsvRow(row: Record<string, string>) {
  const value = (cell: string | undefined) => (cell === '' || cell === undefined ? null : cell);
  return {
    userName: row.userName,
    firstName: value(row.firstName),
    lastName: value(row.lastName),
    email: value(row.email),
    enabled: row.enabled === 'true',
    userType: row.userType,
    'groups.name': groupSet(row['groups.name']),
  };
}

describe('reports as rows', () => {
  it('CSV: a header and one RFC 4180 row per user, equal to the simulator data for every user', async () => {
    const id = manifest.idOf('AccessReviewReport');
    stack.sim.clearRequests();
    const answer = await report(`/reports/${id}.csv`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/csv/);
    expect(answer.headers['content-disposition']).toBe('attachment; filename="AccessReviewReport.csv"');
    expect(answer.text.split('\r\n')[0]).toBe(ACCESS_REVIEW_COLUMNS.join(','));
    // The quoted user's fields are quoted, their quotes doubled.
    expect(answer.text).toContain('report.quoted,"Zoë\r\n""Zed""","Doe, ""Jr.""",zoe.doe@example.com,');

    const rows = parseCsv(answer.text, { columns: true, relax_column_count: false }) as Array<
      Record<string, string>
    >;
    const users = stack.sim.state().users();
    expect(rows).toHaveLength(users.length);
    const byName = new Map(rows.map((row) => [row.userName, typedCsvRow(row)]));
    for (const user of users) expect(byName.get(user.userName), user.userName).toEqual(expectedRow(user));
    expect(byName.get(QUOTED_USER.userName)).toMatchObject({
      firstName: QUOTED_USER.firstName,
      lastName: QUOTED_USER.lastName,
    });
    expect(byName.get(QUOTED_USER.userName)?.['groups.name']).toHaveLength(2);
    // One users call and one memberships call, with the client's token: the gateway's own batching. The two run
    // side by side (schema/selection.ts), so their order in the log is not fixed.
    const calls = stack.sim.requests().map((call) => [call.method, call.path, call.token]);
    expect(calls.sort((a, b) => String(a[1]).localeCompare(String(b[1])))).toEqual([
      ['GET', '/service/api/security/groups/users', stack.token],
      ['GET', '/service/api/security/users', stack.token],
    ]);
  });

  it('NDJSON: one object per line with the same keys, typed, equal to the simulator data', async () => {
    const answer = await report(`/reports/${manifest.idOf('AccessReviewReport')}.ndjson`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^application\/x-ndjson/);
    expect(answer.headers['content-disposition']).toBe('attachment; filename="AccessReviewReport.ndjson"');
    expect(answer.text.endsWith('\n')).toBe(true);
    const rows = answer.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const users = stack.sim.state().users();
    expect(rows).toHaveLength(users.length);
    for (const row of rows) expect(Object.keys(row)).toEqual(ACCESS_REVIEW_COLUMNS);
    const byName = new Map(
      rows.map((row) => [row.userName, { ...row, 'groups.name': groupSet(row['groups.name']) }]),
    );
    for (const user of users) expect(byName.get(user.userName), user.userName).toEqual(expectedRow(user));
  });

  it("takes variables from the URL; a connection's edges give their nodes; a nested list is one cell", async () => {
    const page = await report(`/reports/${manifest.idOf('UserAdminPage')}.csv`, {
      variables: { first: 5, orderBy: { field: 'USER_NAME', direction: 'DESC' } },
    });
    expect(page.status).toBe(200);
    const rows = parseCsv(page.text, { columns: true }) as Array<Record<string, string>>;
    const expected = stack.sim
      .state()
      .users()
      .map((user) => user.userName)
      .sort((a, b) => b.toLowerCase().localeCompare(a.toLowerCase()));
    // The whole connection, in the order the variables asked for: `first` is only the page size it had.
    expect(rows.map((row) => row.userName)).toEqual(expected);
    // edges { cursor node { ...UserRow } }: the node's fields, no cursor.
    expect(Object.keys(rows[0] ?? {})).toEqual([
      'id',
      'userName',
      'firstName',
      'lastName',
      'email',
      'enabled',
      'userType',
      'groups.id',
      'groups.name',
    ]);

    const names = stack.sim.fixtures.deploymentNames.slice(0, 3);
    const history = await report(`/reports/${manifest.idOf('DeploymentHistoryReport')}.ndjson`, {
      variables: { names },
    });
    expect(history.status).toBe(200);
    const deployments = history.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, string>);
    expect(deployments.map((row) => row.name)).toEqual(names);
    for (const row of deployments) {
      const runs = stack.sim.state().deploymentExecutions(row.name as string);
      expect((row['executions.executionId'] ?? '').split('; ').sort()).toEqual(
        runs.map((run) => run.id).sort(),
      );
    }

    // An empty result still has its header: a deployment that never ran, one row per run.
    const empty = await report('/reports/DeploymentRuns.csv', {
      variables: { names: [stack.sim.fixtures.neverRunDeploymentName] },
    });
    expect(empty.status).toBe(200);
    expect(empty.text).toBe(
      'name,executions.executionId,executions.state,executions.status,executions.startedAt,executions.endedAt,executions.durationSeconds\r\n',
    );
  });

  it('names columns by response keys (aliases, inline fragments); a result without a list has no rows', async () => {
    const aliased = await report(`/reports/${sha256Hex(ALIASED)}.ndjson`);
    expect(aliased.status).toBe(200);
    const rows = aliased.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const first = stack.sim
      .state()
      .users()
      .sort((a, b) => a.userName.toLowerCase().localeCompare(b.userName.toLowerCase()));
    expect(rows).toEqual(
      first.map((user) => ({
        name: user.userName,
        mail: user.email,
        'groups.n': expect.any(String),
      })),
    );
    for (const [i, row] of rows.entries()) {
      expect(groupSet(row['groups.n'])).toEqual(
        groupSet(
          stack.sim
            .state()
            .groupsOf(first[i]?.userName ?? '')
            .join('; '),
        ),
      );
    }

    const none = await report(`/reports/${sha256Hex(NO_LIST)}.csv`);
    expect(none.status).toBe(200);
    // The row list (user.groups) comes from the schema, so even a null user gives the header, and no row.
    expect(none.text).toBe('name\r\n');
  });

  it('without a token: 401 JSON {code, message} and no upstream call', async () => {
    stack.sim.clearRequests();
    const answer = await report(`/reports/${manifest.idOf('AccessReviewReport')}.csv`, { token: null });
    expect(answer.status).toBe(401);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    // Basic first, so a BI tool prompts for credentials (the token as the password).
    expect(answer.headers['www-authenticate']).toEqual([
      'Basic realm="EPMware gateway", charset="UTF-8"',
      'Token',
    ]);
    expect(JSON.parse(answer.text)).toEqual({ code: 'UNAUTHENTICATED', message: expect.any(String) });
    expect(stack.sim.requests()).toHaveLength(0);
  });

  it('a malformed Authorization is 401 as on /graphql, even with EPMWARE_TOKEN configured', async () => {
    const withServiceToken = await startStack({
      env: { PERSISTED_DOCUMENTS: manifest.path, EPMWARE_TOKEN: stack.sim.tokens.primary },
    });
    try {
      const path = `/reports/${manifest.idOf('AccessReviewReport')}.csv`;
      // Basic without a password ('user:'), or not base64, is malformed too.
      for (const authorization of ['Basic dXNlcjo=', 'Basic !!', 'Token two words', '']) {
        const response = await request(new URL(path, withServiceToken.origin), {
          headers: { authorization },
        });
        expect(response.statusCode, authorization).toBe(401);
        expect(await response.body.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
      }
      expect(withServiceToken.sim.requests()).toHaveLength(0);
      // No header at all: the configured service token stands in.
      const served = await report(path, { token: null, on: withServiceToken });
      expect(served.status).toBe(200);
      expect(withServiceToken.sim.requests().every((call) => call.token === stack.sim.tokens.primary)).toBe(
        true,
      );
    } finally {
      await withServiceToken.close();
    }
  });

  it("another token gets its own tenant's rows, and only those", async () => {
    const secondary = stack.sim.tokens.secondary;
    stack.sim.clearRequests();
    const answer = await report(`/reports/${manifest.idOf('AccessReviewReport')}.csv`, { token: secondary });
    expect(answer.status).toBe(200);
    const rows = parseCsv(answer.text, { columns: true }) as Array<Record<string, string>>;
    const theirs = stack.sim.state(secondary).users();
    expect(rows.map((row) => row.userName).sort()).toEqual(theirs.map((user) => user.userName).sort());
    const byName = new Map(rows.map((row) => [row.userName, typedCsvRow(row)]));
    for (const user of theirs) expect(byName.get(user.userName)).toEqual(expectedRow(user, secondary));
    const primaryOnly = stack.sim
      .state()
      .users()
      .filter((user) => !theirs.some((other) => other.userName === user.userName));
    expect(primaryOnly.length).toBeGreaterThan(0);
    for (const user of primaryOnly) expect(byName.has(user.userName)).toBe(false);
    expect(stack.sim.requests().every((call) => call.token === secondary)).toBe(true);
  });

  it('refuses a mutation (400) and an unknown id (404) with JSON and no upstream call', async () => {
    stack.sim.clearRequests();
    for (const operation of ['StartDeployment', 'CreateSsoUser', 'DeploymentProgress']) {
      const answer = await report(`/reports/${manifest.idOf(operation)}.csv`, {
        variables: { name: stack.sim.fixtures.deploymentNames[0], taskId: '1' },
      });
      expect(answer.status, operation).toBe(400);
      expect(JSON.parse(answer.text)).toEqual({
        code: 'BAD_USER_INPUT',
        message: expect.stringMatching(/queries only/),
      });
    }
    const unknown = await report(`/reports/${'0'.repeat(64)}.ndjson`);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text)).toMatchObject({ code: 'PERSISTED_QUERY_NOT_FOUND' });
    const badVariables = await report(
      `/reports/${manifest.idOf('AccessReviewReport')}.csv?variables=%7Bnope`,
    );
    expect(badVariables.status).toBe(400);
    expect(JSON.parse(badVariables.text)).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(stack.sim.requests()).toHaveLength(0);
  });

  it('a GraphQL error is one JSON error with its contract code, never half a CSV', async () => {
    // The users list answers, the memberships call fails: the result has data AND an error.
    stack.sim.injectFault({ path: '/service/api/security/groups/users', status: 500, times: 1 });
    try {
      const answer = await report(`/reports/${manifest.idOf('AccessReviewReport')}.csv`);
      expect(answer.status).toBe(502);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(answer.text)).toEqual({ code: 'UPSTREAM_ERROR', message: expect.any(String) });
      expect(answer.text).not.toContain('userName');
    } finally {
      stack.sim.clearFaults();
    }
    // Over a query limit: the same JSON shape, before any upstream call.
    stack.sim.clearRequests();
    const tooMany = await report(`/reports/${manifest.idOf('DeploymentHistoryReport')}.csv`, {
      variables: { names: Array.from({ length: 101 }, (_, i) => `D${i}`) },
    });
    expect(tooMany.status).toBe(400);
    expect(JSON.parse(tooMany.text)).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(stack.sim.requests()).toHaveLength(0);
  });

  it('only GET', async () => {
    const response = await request(
      new URL(`/reports/${manifest.idOf('AccessReviewReport')}.csv`, stack.origin),
      {
        method: 'POST',
        headers: { authorization: `Token ${stack.token}` },
      },
    );
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe('GET');
    expect(await response.body.json()).toMatchObject({ code: 'BAD_USER_INPUT' });
  });
});

describe('a large report', () => {
  let large: Stack;
  beforeAll(async () => {
    large = await startStack({
      simulator: { users: 3_000 },
      env: { PERSISTED_DOCUMENTS: manifest.path, CACHE_TTL_MS: '0' },
    });
  });
  afterAll(() => large.close());

  it('streams its rows in chunks (no Content-Length): every one of 3,000 users, never a cut at 1,000', async () => {
    large.sim.clearRequests();
    const answer = await report(`/reports/${manifest.idOf('AccessReviewReport')}.csv`, {
      on: large,
      variables: { first: 1000 },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-length']).toBeUndefined();
    expect(answer.headers['transfer-encoding']).toBe('chunked');
    expect(answer.text.length).toBeGreaterThan(64 * 1024);
    expect(answer.chunks).toBeGreaterThan(1);
    const rows = parseCsv(answer.text, { columns: true }) as Array<Record<string, string>>;
    const everyone = large.sim
      .state()
      .users()
      .map((user) => user.userName)
      .sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
    expect(rows).toHaveLength(3000);
    expect(rows.map((row) => row.userName)).toEqual(everyone);
    // Three pages of 1,000, each one GraphQL request: a users list and the memberships each (no cache here).
    expect(large.sim.requests({ path: '/service/api/*' })).toHaveLength(6);
  });
});
