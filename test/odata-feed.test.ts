/**
 * The OData feed over real HTTP against the simulator: the two documents (no credentials; $metadata valid against
 * OASIS's edmx.xsd and edm.xsd, read from the odata-csdl package the OASIS TC publishes), credentials (Basic with
 * the token as the password, the 401 challenge), every query option on every entity set against the simulator's
 * data, key lookup, the execution sets' name filter, errors in OData's body with zero upstream calls, and two
 * tenants kept apart.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COUNTED_UPSTREAM, stackForFile } from './harness.ts';
import { basic, odata } from './odata-client.ts';

const stack = stackForFile(COUNTED_UPSTREAM);
const apiCalls = () => stack.sim.requests({ path: '/service/api/*' });

const schemas = join(dirname(createRequire(import.meta.url).resolve('odata-csdl/package.json')), 'schemas');

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

describe('the service document and $metadata', () => {
  it('need no credentials, carry OData-Version 4.0, and $metadata is valid CSDL XML (xmllint, OASIS XSDs)', async () => {
    const service = await odata(stack, '/odata/', { authorization: null });
    expect(service.status).toBe(200);
    expect(service.headers['odata-version']).toBe('4.0');
    expect(service.json?.value?.map((set) => set.name)).toEqual([
      'Users',
      'Groups',
      'Memberships',
      'DeploymentExecutions',
      'ExportExecutions',
    ]);
    expect(service.json?.['@odata.context']).toBe(`${stack.origin}/odata/$metadata`);

    const metadata = await odata(stack, '/odata/$metadata', { authorization: null });
    expect(metadata.status).toBe(200);
    expect(metadata.headers['odata-version']).toBe('4.0');
    expect(metadata.headers['content-type']).toMatch(/^application\/xml/);
    const dir = mkdtempSync(join(tmpdir(), 'odata-metadata-'));
    try {
      const file = join(dir, 'metadata.xml');
      writeFileSync(file, metadata.text);
      // Throws (non-zero exit) on any schema violation.
      const out = execFileSync('xmllint', ['--noout', '--schema', join(schemas, 'edmx.xsd'), file], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      expect(out).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(apiCalls()).toHaveLength(0);
  });

  it('types the properties from the schema and marks what BI tools need', async () => {
    const { text } = await odata(stack, '/odata/$metadata', { authorization: null });
    expect(text).toContain('<Property Name="userName" Type="Edm.String" Nullable="false"/>');
    expect(text).toContain('<Property Name="enabled" Type="Edm.Boolean" Nullable="false"/>');
    // "and any other scalar field of User": description is in the schema, not in the contract's list.
    expect(text).toContain('<Property Name="description" Type="Edm.String" Nullable="true"/>');
    expect(text).toContain('<Property Name="userCount" Type="Edm.Int32" Nullable="false"/>');
    expect(text).toContain('<Property Name="startedAt" Type="Edm.DateTimeOffset" Nullable="true"/>');
    expect(text).toContain('<Property Name="durationSeconds" Type="Edm.Double" Nullable="true"/>');
    expect(text).toContain('<Property Name="outputFileSizeBytes" Type="Edm.Int64" Nullable="true"/>');
    expect(text).not.toMatch(/Name="id"/);
    expect(text).toContain('<ReferentialConstraint Property="groupName" ReferencedProperty="name"/>');
    expect(text).toMatch(
      /<EntitySet Name="DeploymentExecutions"[\s\S]*?RequiresFilter" Bool="true"[\s\S]*?<PropertyPath>deploymentName</,
    );
  });
});

describe('credentials', () => {
  it('answers 401 with a Basic challenge without credentials, and no upstream call', async () => {
    const answer = await odata(stack, '/odata/Users', { authorization: null });
    expect(answer.status).toBe(401);
    expect(String(answer.headers['www-authenticate'])).toMatch(/^Basic realm="EPMware gateway"/);
    expect(answer.json?.error?.code).toBe('UNAUTHENTICATED');
    expect(answer.headers['odata-version']).toBe('4.0');
    expect(apiCalls()).toHaveLength(0);
  });

  it('takes Basic credentials with the token as the password, whatever the user name, and Token/Bearer', async () => {
    for (const authorization of [
      basic(stack.token, 'powerbi'),
      basic(stack.token, ''),
      `Token ${stack.token}`,
      `Bearer ${stack.token}`,
    ]) {
      const answer = await odata(stack, '/odata/Users?$top=1&$select=userName', { authorization });
      expect(answer.status).toBe(200);
      expect(answer.json?.value).toHaveLength(1);
    }
    // The token travels upstream in EPMware's form, never as Basic.
    expect(apiCalls().map((call) => call.headers.authorization)).toEqual(
      Array(4).fill(`Token ${stack.token}`),
    );
  });

  it('refuses Basic credentials without a password, or not base64, before any upstream call', async () => {
    for (const authorization of [basic(''), 'Basic !!!', 'Basic']) {
      const answer = await odata(stack, '/odata/Users', { authorization });
      expect(answer.status).toBe(401);
      expect(answer.json?.error?.message).toMatch(/Basic credentials/);
      expect(answer.text).not.toContain(stack.token);
    }
    expect(apiCalls()).toHaveLength(0);
  });

  it('keeps two tenants apart: each token reads its own users', async () => {
    const primary = await odata(stack, '/odata/Users?$select=userName');
    const secondary = await odata(stack, '/odata/Users?$select=userName', {
      authorization: basic(stack.sim.tokens.secondary),
    });
    const names = (answer: typeof primary) => answer.json?.value?.map((u) => u.userName as string) ?? [];
    expect(names(primary)).toEqual(
      stack.sim
        .state()
        .users()
        .map((u) => u.userName)
        .sort(byName),
    );
    expect(names(secondary)).toEqual(
      stack.sim
        .state(stack.sim.tokens.secondary)
        .users()
        .map((u) => u.userName)
        .sort(byName),
    );
    expect(names(primary)).not.toEqual(names(secondary));
    expect(apiCalls().map((call) => call.token)).toEqual([stack.token, stack.sim.tokens.secondary]);
  });
});

describe('entity sets', () => {
  it('Users: every property as the graph serves it, $count=true, one upstream call', async () => {
    const answer = await odata(stack, '/odata/Users?$count=true');
    expect(answer.status).toBe(200);
    expect(answer.headers['cache-control']).toBe('private, no-store');
    expect(answer.headers['content-type']).toMatch(/^application\/json;odata\.metadata=minimal/);
    const users = stack.sim.state().users();
    expect(answer.json?.['@odata.count']).toBe(users.length);
    expect(answer.json?.['@odata.context']).toBe(`${stack.origin}/odata/$metadata#Users`);
    const expected = users
      .map((u) => ({
        userName: u.userName,
        firstName: u.firstName,
        lastName: u.lastName,
        email: u.email,
        userType: u.userType,
        enabled: u.enable === 'Y',
        description: u.description ?? null,
      }))
      .sort((a, b) => byName(a.userName, b.userName));
    expect(answer.json?.value).toEqual(expected);
    expect(apiCalls().map((call) => call.path)).toEqual(['/service/api/security/users']);
  });

  it('Groups and Memberships: one row per group, one per user and group; two upstream calls each', async () => {
    const state = stack.sim.state();
    const groups = await odata(stack, '/odata/Groups?$orderby=name');
    expect(groups.json?.value).toEqual(
      state
        .groups()
        .map((g) => ({
          name: g.name,
          description: g.description,
          enabled: g.enable === 'Y',
          userCount: state.members(g.name).length,
        }))
        .sort((a, b) => byName(a.name, b.name)),
    );
    expect(apiCalls()).toHaveLength(2);
    stack.sim.clearRequests();

    const memberships = await odata(stack, '/odata/Memberships?$count=true');
    const spelled = new Map(state.users().map((u) => [u.userName.toLowerCase(), u.userName]));
    const expected = state
      .groups()
      .flatMap((g) =>
        state
          .members(g.name)
          .filter((member) => spelled.has(member.toLowerCase()))
          .map((member) => `${spelled.get(member.toLowerCase())}|${g.name}`),
      )
      .sort(byName);
    const rows = memberships.json?.value?.map((m) => `${m.userName}|${m.groupName}`) ?? [];
    expect(rows).toEqual(expected);
    expect(memberships.json?.['@odata.count']).toBe(expected.length);
    expect(
      apiCalls()
        .map((call) => call.path)
        .sort(),
    ).toEqual(['/service/api/security/groups/users', '/service/api/security/users']);
  });

  it('$select, $orderby (several keys, asc/desc), $top, $skip, /$count', async () => {
    const users = stack.sim.state().users();
    const answer = await odata(
      stack,
      '/odata/Users?$select=lastName,userName&$orderby=lastName desc,userName asc&$top=5&$skip=3',
    );
    expect(answer.json?.['@odata.context']).toBe(`${stack.origin}/odata/$metadata#Users(userName,lastName)`);
    const ordered = [...users].sort(
      (a, b) => -byName(a.lastName ?? '', b.lastName ?? '') || byName(a.userName, b.userName),
    );
    // null sorts first ascending, so last descending: the simulator's users all have a last name.
    expect(answer.json?.value).toEqual(
      ordered.slice(3, 8).map((u) => ({ userName: u.userName, lastName: u.lastName })),
    );

    const count = await odata(stack, "/odata/Users/$count?$filter=userType eq 'SAML'");
    expect(count.status).toBe(200);
    expect(count.headers['content-type']).toMatch(/^text\/plain/);
    expect(count.text).toBe(String(users.filter((u) => u.userType === 'SAML').length));
  });

  it('key lookup matches the name case-insensitively and answers it as EPMware spells it; 404 otherwise', async () => {
    const user = stack.sim.state().users()[7];
    if (!user) throw new Error('no user');
    const found = await odata(stack, `/odata/Users('${encodeURIComponent(user.userName.toUpperCase())}')`);
    expect(found.status).toBe(200);
    expect(found.json?.['@odata.context']).toBe(`${stack.origin}/odata/$metadata#Users/$entity`);
    expect(found.json?.userName).toBe(user.userName);
    expect(found.json?.email).toBe(user.email);

    const missing = await odata(stack, "/odata/Users('nobody.at.all')");
    expect(missing.status).toBe(404);
    expect(missing.json?.error).toEqual({
      code: 'NOT_FOUND',
      message: "Users has no entity ('nobody.at.all')",
    });

    const group = stack.sim.state().groups()[0];
    const membership = stack.sim.state().members(group?.name ?? '')[0];
    const pair = await odata(
      stack,
      `/odata/Memberships(userName='${membership?.toLowerCase()}',groupName='${group?.name.toUpperCase()}')`,
    );
    expect(pair.status).toBe(200);
    expect(pair.json?.groupName).toBe(group?.name);
  });

  it('DeploymentExecutions and ExportExecutions: one row per run of the named configurations', async () => {
    const [first, second] = stack.sim.fixtures.deploymentNames;
    const answer = await odata(
      stack,
      `/odata/DeploymentExecutions?$filter=deploymentName in ('${first}','${second}')&$count=true`,
    );
    expect(answer.status).toBe(200);
    const runs = answer.json?.value ?? [];
    const graph = await stack.graphql<{
      deployments: Array<{
        name: string;
        executions: Array<{ executionId: string; startedAt: string | null }>;
      }>;
    }>(
      'query ($names: [String!]!) { deployments(names: $names) { name executions { executionId startedAt } } }',
      {
        names: [first, second],
      },
    );
    const expected = (graph.data?.deployments ?? []).flatMap((d) =>
      d.executions.map((run) => `${d.name}|${run.executionId}|${run.startedAt}`),
    );
    expect(runs.map((run) => `${run.deploymentName}|${run.executionId}|${run.startedAt}`).sort()).toEqual(
      expected.sort(),
    );
    expect(answer.json?.['@odata.count']).toBe(expected.length);
    expect(Object.keys(runs[0] ?? {})).toEqual([
      'deploymentName',
      'executionId',
      'state',
      'status',
      'startedAt',
      'endedAt',
      'durationSeconds',
    ]);

    const exportName = stack.sim.fixtures.exportNames[0];
    const exports = await odata(stack, `/odata/ExportExecutions?$filter=exportName eq '${exportName}'`);
    expect(exports.status).toBe(200);
    for (const run of exports.json?.value ?? []) {
      expect(run.exportName).toBe(exportName);
      expect(run).toHaveProperty('outputFileSizeBytes');
    }
  });

  it('an execution set without a name filter is 400, an unknown name 404 naming it', async () => {
    for (const path of [
      '/odata/DeploymentExecutions',
      "/odata/DeploymentExecutions?$filter=state eq 'FAILED'",
      "/odata/ExportExecutions?$filter=tolower(exportName) eq 'x'",
    ]) {
      const answer = await odata(stack, path);
      expect(answer.status).toBe(400);
      expect(answer.json?.error?.code).toBe('BAD_USER_INPUT');
      expect(answer.json?.error?.message).toMatch(/needs a \$filter on (deploymentName|exportName)/);
    }
    expect(apiCalls()).toHaveLength(0);

    const unknown = await odata(
      stack,
      "/odata/DeploymentExecutions?$filter=deploymentName eq 'NO_SUCH_DEPLOYMENT'",
    );
    expect(unknown.status).toBe(404);
    expect(unknown.json?.error).toEqual({
      code: 'NOT_FOUND',
      message: "EPMware has no deployment named 'NO_SUCH_DEPLOYMENT'",
    });
  });
});

describe('refusals', () => {
  it('a bad $filter, an unknown option or property, a bad $top: 400 BAD_USER_INPUT and no upstream call', async () => {
    const cases: Array<[string, RegExp]> = [
      ["/odata/Users?$filter=userName eq 'x' and", /does not parse/],
      ["/odata/Users?$filter=userName neq 'x'", /does not parse/],
      ['/odata/Users?$filter=nickname eq 1', /no property nickname/],
      ["/odata/Users?$filter=enabled eq 'yes'", /cannot compare enabled \(boolean\) with a string/],
      ['/odata/Users?$filter=length(userName) gt 3', /not supported/],
      ["/odata/Users?$filter=userName eq 'unterminated", /not closed/],
      ['/odata/Users?$orderby=shoeSize', /not a property of Users/],
      ['/odata/Users?$select=password', /no property password/],
      ['/odata/Users?$top=-1', /\$top must be a whole number/],
      ['/odata/Users?$apply=groupby((userType))', /not a query option/],
      ['/odata/Users?$skiptoken=forged', /\$skiptoken/],
      ['/odata/Users?$format=xml', /\$format must be json/],
    ];
    for (const [path, message] of cases) {
      const answer = await odata(stack, path);
      expect(answer.status, path).toBe(400);
      expect(answer.headers['odata-version']).toBe('4.0');
      expect(answer.json?.error?.code).toBe('BAD_USER_INPUT');
      expect(answer.json?.error?.message, path).toMatch(message);
    }
    expect(apiCalls()).toHaveLength(0);
  });

  it('$expand and $search answer 501; unknown sets 404; writes 405', async () => {
    const expand = await odata(stack, '/odata/Users?$expand=memberships');
    expect(expand.status).toBe(501);
    expect(expand.json?.error?.code).toBe('BAD_USER_INPUT');
    const search = await odata(stack, '/odata/Users?$search=jane');
    expect(search.status).toBe(501);
    const navigation = await odata(stack, "/odata/Users('x')/memberships");
    expect(navigation.status).toBe(501);
    const unknown = await odata(stack, '/odata/Customers');
    expect(unknown.status).toBe(404);
    expect(unknown.json?.error?.code).toBe('NOT_FOUND');
    const post = await odata(stack, '/odata/Users', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(apiCalls()).toHaveLength(0);
  });
});
