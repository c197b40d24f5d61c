/**
 * Persisted (trusted) documents: by id over POST {"documentId"} and GET ?documentId=, by Apollo's APQ hash; unknown
 * ids; no registration (the store never grows, however many documents clients send); only-persisted mode over HTTP
 * and WebSocket with GraphiQL's introspection still answering; and a bad manifest stopping start-up.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getIntrospectionQuery } from 'graphql';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest } from '../scripts/build-documents.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { sha256Hex } from '../src/persisted/manifest.ts';
import { PROJECT_ROOT, runUntilExit } from './gateway-process.ts';
import { type Stack, startStack } from './harness.ts';
import { type ManifestFile, writeManifestFile } from './persisted-fixture.ts';
import { wsClient } from './subscription-clients.ts';

type Body = {
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
};

let manifest: ManifestFile;
beforeAll(() => {
  manifest = writeManifestFile();
});
afterAll(() => manifest.remove());

async function post(stack: Stack, body: unknown, headers: Record<string, string> = {}, withToken = true) {
  const response = await request(stack.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(withToken ? { authorization: `Token ${stack.token}` } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
  });
  return { status: response.statusCode, body: (await response.body.json()) as Body };
}

async function get(stack: Stack, params: Record<string, string>, headers: Record<string, string> = {}) {
  const url = new URL(stack.url);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  const response = await request(url, { headers: { authorization: `Token ${stack.token}`, ...headers } });
  return { status: response.statusCode, body: (await response.body.json()) as Body };
}

function sortedUserNames(stack: Stack, token?: string): string[] {
  return stack.sim
    .state(token)
    .users()
    .map((user) => user.userName)
    .sort();
}

function userNamesOf(body: Body): string[] {
  const users = body.data?.users as { nodes: Array<{ userName: string }> } | undefined;
  return (users?.nodes ?? []).map((node) => node.userName).sort();
}

const apq = (sha256Hash: string) => ({ persistedQuery: { version: 1, sha256Hash } });

describe('persisted documents by id (arbitrary documents still allowed)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { PERSISTED_DOCUMENTS: manifest.path, CACHE_TTL_MS: '0' } });
  });
  afterAll(() => stack.close());

  it('runs a document by POST {documentId, variables}, by GET ?documentId=&variables= and by APQ hash', async () => {
    const id = manifest.idOf('AccessReviewReport');
    const expected = sortedUserNames(stack);
    stack.sim.clearRequests();

    const byPost = await post(stack, { documentId: id, variables: { first: 1000 } });
    expect(byPost.status).toBe(200);
    expect(byPost.body.errors).toBeUndefined();
    expect(userNamesOf(byPost.body)).toEqual(expected);

    // GET with only the Authorization header (what Power BI's Web.Contents sends); the draft's sha256: prefix too.
    const byGet = await get(stack, { documentId: `sha256:${id}`, variables: JSON.stringify({ first: 3 }) });
    expect(byGet.status).toBe(200);
    expect(byGet.body.errors).toBeUndefined();
    expect(userNamesOf(byGet.body)).toEqual(expected.slice(0, 3));

    const byApq = await post(stack, { extensions: apq(id), variables: { first: 1000 } });
    expect(byApq.body.errors).toBeUndefined();
    expect(userNamesOf(byApq.body)).toEqual(expected);
    const byApqGet = await get(stack, { extensions: JSON.stringify(apq(id)) });
    expect(userNamesOf(byApqGet.body)).toEqual(expected);

    // Each request read the users list once upstream, with the client's token.
    const listCalls = stack.sim.requests({ method: 'GET', path: '/service/api/security/users' });
    expect(listCalls).toHaveLength(4);
    expect(listCalls.every((call) => call.token === stack.token)).toBe(true);
  });

  it('answers an unknown id with PERSISTED_QUERY_NOT_FOUND (404) and no upstream call', async () => {
    const unknown = sha256Hex('query Nobody { users { totalCount } }');
    stack.sim.clearRequests();
    const answers = [
      await post(stack, { documentId: unknown }),
      await get(stack, { documentId: unknown }),
      await post(stack, { extensions: apq(unknown) }),
      await post(stack, { documentId: 'not-even-hex' }),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(404);
      expect(answer.body.data).toBeUndefined();
      expect(answer.body.errors).toEqual([
        // The exact message Apollo Client's and urql's persisted-query links look for.
        { message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } },
      ]);
    }
    expect(stack.sim.requests()).toHaveLength(0);
  });

  it("APQ's register-on-miss runs the text but registers nothing, however many documents clients send", async () => {
    const sizeBefore = stack.gateway.services.config.persistedDocuments.size;
    // A flood of distinct documents sent the APQ way: hash first (a miss), then text with the hash.
    for (let i = 0; i < 100; i++) {
      const query = `query Flood${i} { __typename }`;
      const hash = sha256Hex(query);
      const miss = await post(stack, { extensions: apq(hash) });
      expect(miss.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
      const sent = await post(stack, { query, extensions: apq(hash) });
      expect(sent.body).toEqual({ data: { __typename: 'Query' } });
    }
    // Still a miss afterwards: nothing was stored, so nothing can grow.
    const again = await post(stack, { extensions: apq(sha256Hex('query Flood0 { __typename }')) });
    expect(again.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect(stack.gateway.services.config.persistedDocuments.size).toBe(sizeBefore);
  });

  it('a persisted mutation runs once by POST and is refused by GET without reaching EPMware', async () => {
    const id = manifest.idOf('StartDeployment');
    const name = stack.sim.fixtures.deploymentNames.find(
      (each) => each !== stack.sim.fixtures.failingDeploymentName,
    );
    stack.sim.clearRequests();
    const refused = await get(stack, { documentId: id, variables: JSON.stringify({ name }) });
    expect(refused.status).toBe(405);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(stack.sim.requests()).toHaveLength(0);

    const started = await post(stack, { documentId: id, variables: { name } });
    expect(started.body.errors).toBeUndefined();
    const taskId = (started.body.data?.runDeployment as { taskId: string } | undefined)?.taskId ?? '';
    const runs = stack.sim.requests({ method: 'POST', path: '/service/api/deployment/run' });
    expect(runs.map((run) => run.body)).toEqual([expect.objectContaining({ name })]);
    expect(stack.sim.state().task(taskId)).toBeDefined();
  });

  it('still runs documents sent as text', async () => {
    const answer = await post(stack, { query: '{ users(first: 2) { nodes { userName } } }' });
    expect(userNamesOf(answer.body)).toEqual(
      stack.sim
        .state()
        .users()
        .map((user) => user.userName)
        .sort()
        .slice(0, 2),
    );
  });
});

describe('PERSISTED_DOCUMENTS_ONLY=true', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { PERSISTED_DOCUMENTS: manifest.path, PERSISTED_DOCUMENTS_ONLY: 'true', CACHE_TTL_MS: '0' },
    });
  });
  afterAll(() => stack.close());

  it('refuses any other document with PERSISTED_QUERY_REQUIRED before any upstream call', async () => {
    stack.sim.clearRequests();
    const query = '{ users(first: 1000) { nodes { userName email } } }';
    const answers = [
      await post(stack, { query }),
      await get(stack, { query }),
      // APQ's second step (text with its hash) does not smuggle a new document in.
      await post(stack, { query, extensions: apq(sha256Hex(query)) }),
      // Introspection next to a real field is not introspection.
      await post(stack, { query: '{ __typename users { totalCount } }' }),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(400);
      expect(answer.body.data).toBeUndefined();
      expect(answer.body.errors?.map((error) => error.extensions?.code)).toEqual([
        'PERSISTED_QUERY_REQUIRED',
      ]);
    }
    expect(stack.sim.requests()).toHaveLength(0);
  });

  it("runs documents by id, and a manifest document's own text", async () => {
    const expected = sortedUserNames(stack);
    const byId = await post(stack, { documentId: manifest.idOf('AccessReviewReport') });
    expect(userNamesOf(byId.body)).toEqual(expected);
    // Reformatted (one line, a comment): still the trusted document.
    const text = `# from the app\n${manifest.textOf('AccessReviewReport').replace(/\s+/g, ' ')}`;
    const byText = await post(stack, { query: text });
    expect(byText.body.errors).toBeUndefined();
    expect(userNamesOf(byText.body)).toEqual(expected);
  });

  it("keeps GraphiQL's introspection query answering, without a token", async () => {
    stack.sim.clearRequests();
    const answer = await post(
      stack,
      { query: getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true }) },
      { 'x-graphql-yoga-csrf': '1' },
      false,
    );
    expect(answer.status).toBe(200);
    expect(answer.body.errors).toBeUndefined();
    const schema = answer.body.data?.__schema as { types: Array<{ name: string }> };
    expect(schema.types.map((type) => type.name)).toContain('User');
    expect(stack.sim.requests()).toHaveLength(0);
  });

  it('holds over WebSocket too: a subscribe message with another document is refused, a trusted one runs', async () => {
    const client = wsClient(stack);
    try {
      stack.sim.clearRequests();
      const other = client.iterate({
        query: 'subscription ($id: ID!) { taskUpdates(taskId: $id) { state } }',
        variables: { id: stack.sim.fixtures.succeededTaskId },
      });
      await expect(other.next()).rejects.toSatisfy(
        (errors: unknown) =>
          (errors as Array<{ extensions?: Record<string, unknown> }>)[0]?.extensions?.code ===
          'PERSISTED_QUERY_REQUIRED',
      );
      expect(stack.sim.requests()).toHaveLength(0);

      const trusted = client.iterate<{ taskUpdates: { state: string; done: boolean } }>({
        query: manifest.textOf('DeploymentProgress'),
        variables: { taskId: stack.sim.fixtures.succeededTaskId },
      });
      const first = await trusted.next();
      expect(first.value?.data?.taskUpdates).toMatchObject({ state: 'SUCCEEDED', done: true });
      await trusted.return?.(undefined);
    } finally {
      await client.dispose();
    }
  });
});

describe('npm run documents', () => {
  it('writes one entry per example operation, keyed by the sha256 of its text, that the gateway loads', async () => {
    const out = join(manifest.path, '..', 'built.json');
    await new Promise<void>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'scripts/build-documents.ts', '--out', out],
        { cwd: PROJECT_ROOT },
        (error) => (error ? reject(error) : resolve()),
      );
    });
    const built = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
    expect(built).toEqual(buildManifest());
    for (const [id, text] of Object.entries(built)) expect(sha256Hex(text)).toBe(id);
    // Each document is self-contained: the operation and the fragments it spreads, nothing else.
    const texts = Object.values(built);
    expect(texts.filter((text) => /^(query|mutation|subscription) /.test(text))).toHaveLength(texts.length);
    const adminPage = texts.find((text) => text.startsWith('query UserAdminPage')) ?? '';
    expect(adminPage).toContain('fragment UserRow on User');
    expect(adminPage).not.toContain('mutation');
    expect(loadConfig({ PERSISTED_DOCUMENTS: out }).persistedDocuments.size).toBe(texts.length);
  });
});

describe('the manifest at start-up', () => {
  const ok = 'query Ok { __typename }';
  const cases: Array<[label: string, content: string, problem: RegExp]> = [
    ['not JSON', '{ nope', /not valid JSON/],
    ['an array', '[]', /must be a JSON object/],
    ['an id that is not sha256 hex', JSON.stringify({ abc: ok }), /not a sha256 hex id/],
    [
      'an id that is not the hash of its text',
      JSON.stringify({ [sha256Hex('other')]: ok }),
      /not the sha256/,
    ],
    ['a document that is not text', JSON.stringify({ [sha256Hex('1')]: 1 }), /is not a string/],
    [
      'a document that does not parse',
      JSON.stringify({ [sha256Hex('query {')]: 'query {' }),
      /does not parse/,
    ],
    [
      'a document without an operation',
      JSON.stringify({
        [sha256Hex('fragment F on Query { __typename }')]: 'fragment F on Query { __typename }',
      }),
      /has no operation/,
    ],
  ];

  it.each(cases)('refuses %s with one line naming PERSISTED_DOCUMENTS', (_label, content, problem) => {
    const path = join(manifest.path, '..', 'bad.json');
    writeFileSync(path, content);
    let thrown: unknown;
    try {
      loadConfig({ PERSISTED_DOCUMENTS: path });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const message = (thrown as ConfigError).message;
    expect(message).toMatch(/^PERSISTED_DOCUMENTS: /);
    expect(message).toMatch(problem);
    expect(message).not.toContain('\n');
  });

  it('refuses a missing file, and only-persisted mode without a manifest', () => {
    expect(() => loadConfig({ PERSISTED_DOCUMENTS: '/nonexistent/manifest.json' })).toThrow(
      /^PERSISTED_DOCUMENTS: cannot read/,
    );
    expect(() => loadConfig({ PERSISTED_DOCUMENTS_ONLY: 'true' })).toThrow(
      /^PERSISTED_DOCUMENTS_ONLY: needs/,
    );
    expect(loadConfig({ PERSISTED_DOCUMENTS: manifest.path }).persistedDocuments.size).toBe(
      Object.keys(manifest.manifest).length,
    );
  });

  it('as a process: a hash mismatch exits 2 with one line on stderr', async () => {
    const path = join(manifest.path, '..', 'mismatch.json');
    writeFileSync(path, JSON.stringify({ [sha256Hex('something else')]: ok }));
    const exit = await runUntilExit({ PERSISTED_DOCUMENTS: path });
    expect(exit.code).toBe(2);
    const lines = exit.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/PERSISTED_DOCUMENTS: .* is not the sha256 of its document/);
    expect(exit.stdout).not.toContain('GraphiQL at');
  });
});
