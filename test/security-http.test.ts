/**
 * Browser-facing protections: CSRF prevention (requests a page can send cross-site without a preflight must carry
 * a custom header), the CORS allow-list from CORS_ORIGINS, and INTROSPECTION=false hiding the schema and its
 * field suggestions.
 */
import { FormData, request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PRIMARY_TOKEN } from '../src/simulator/index.ts';
import { type Stack, startStack } from './harness.ts';

const ALLOWED = 'https://app.example.com';
const OTHER = 'https://evil.example.net';

let stack: Stack;
beforeAll(async () => {
  // EPMWARE_TOKEN makes CSRF matter: a cross-site form or GET carries no token of its own, and without the CSRF
  // check it would run with the gateway's service token.
  stack = await startStack({
    env: { CORS_ORIGINS: `${ALLOWED},https://admin.example.com`, EPMWARE_TOKEN: PRIMARY_TOKEN },
  });
});
afterAll(() => stack.close());
beforeEach(() => stack.sim.clearRequests());

type Answer = {
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
};

async function send(options: {
  method?: 'GET' | 'POST';
  path?: string;
  headers?: Record<string, string>;
  body?: string | FormData;
}) {
  const response = await request(new URL(options.path ?? '/graphql', stack.origin), {
    method: options.method ?? 'POST',
    headers: options.headers,
    body: options.body,
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

function uploadForm(): FormData {
  const form = new FormData();
  const name = stack.sim.fixtures.erpConfigNames[0];
  form.set(
    'operations',
    JSON.stringify({
      query: `mutation ($file: File!) { uploadErpFile(file: $file, name: ${JSON.stringify(name)}, delimiter: ",") { taskId } }`,
      variables: { file: null },
    }),
  );
  form.set('map', JSON.stringify({ 0: ['variables.file'] }));
  form.set('0', new Blob(['account,amount\n4000,12.5\n'], { type: 'text/csv' }), 'ledger.csv');
  return form;
}

describe('CSRF prevention', () => {
  it('refuses a form post without the preflight header, before any upstream call', async () => {
    const answer = await send({
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: '{ users { totalCount } }' }).toString(),
    });
    expect(answer.status).toBe(403);
    expect((JSON.parse(answer.text) as Answer).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(stack.sim.requests()).toEqual([]);
  });

  it('runs the same form post when it carries the header', async () => {
    const answer = await send({
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Token ${stack.token}`,
        'x-graphql-yoga-csrf': '1',
      },
      body: new URLSearchParams({ query: '{ users { totalCount } }' }).toString(),
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toHaveProperty('data.users.totalCount', stack.sim.state().users().length);
  });

  it('refuses a multipart upload without the header: nothing reaches EPMware', async () => {
    const answer = await send({ body: uploadForm() });
    expect(answer.status).toBe(403);
    expect((JSON.parse(answer.text) as Answer).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(stack.sim.requests()).toEqual([]);
  });

  it('accepts a proper multipart upload (with the header Apollo’s upload link sends)', async () => {
    const answer = await send({
      headers: { authorization: `Token ${stack.token}`, 'apollo-require-preflight': 'true' },
      body: uploadForm(),
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toHaveProperty('data.uploadErpFile.taskId');
    const uploads = stack.sim.requests({ path: '/service/api/erp/upload_file' });
    expect(uploads).toHaveLength(1);
    expect(uploads[0]?.body).toMatchObject({ file: { filename: 'ledger.csv' } });
  });

  it('serves GraphiQL to a browser’s plain GET', async () => {
    const answer = await send({ method: 'GET', headers: { accept: 'text/html' } });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/text\/html/);
    expect(answer.text).toMatch(/graphiql/i);
  });

  it('refuses a GET query without the header and runs it with one', async () => {
    const path = `/graphql?query=${encodeURIComponent('{ users { totalCount } }')}`;
    const refused = await send({ method: 'GET', path, headers: { accept: 'application/json' } });
    expect(refused.status).toBe(403);
    expect(stack.sim.requests()).toEqual([]);
    const allowed = await send({
      method: 'GET',
      path,
      headers: { 'x-graphql-yoga-csrf': '1', accept: 'application/json' },
    });
    expect(allowed.status).toBe(200);
    expect(JSON.parse(allowed.text)).toHaveProperty('data.users.totalCount');
  });

  it('counts Authorization as a preflight header: a page cannot add it cross-site either (urql GETs)', async () => {
    const path = `/graphql?query=${encodeURIComponent('{ users { totalCount } }')}`;
    const answer = await send({
      method: 'GET',
      path,
      headers: { authorization: `Token ${stack.token}`, accept: 'application/json' },
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toHaveProperty('data.users.totalCount');
  });
});

describe('CORS', () => {
  const preflight = (origin: string) =>
    send({
      method: 'OPTIONS' as 'GET',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });

  it('an allowed origin gets its headers, on the preflight and on the request', async () => {
    const pre = await preflight(ALLOWED);
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(String(pre.headers['access-control-allow-headers'])).toMatch(/authorization/i);
    expect(String(pre.headers['access-control-allow-methods'])).toMatch(/POST/);
    expect(pre.headers['access-control-allow-credentials']).toBeUndefined();

    const actual = await send({
      headers: { origin: ALLOWED, 'content-type': 'application/json', authorization: `Token ${stack.token}` },
      body: JSON.stringify({ query: '{ users { totalCount } }' }),
    });
    expect(actual.status).toBe(200);
    expect(actual.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(String(actual.headers['access-control-expose-headers'])).toMatch(/x-request-id/i);
  });

  it('another origin gets none', async () => {
    const pre = await preflight(OTHER);
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    expect(pre.headers['access-control-allow-methods']).toBeUndefined();
    const actual = await send({
      headers: { origin: OTHER, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(actual.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('with CORS_ORIGINS unset, no origin gets CORS headers', async () => {
    const plain = await startStack();
    try {
      const answer = await request(plain.url, {
        method: 'OPTIONS',
        headers: { origin: ALLOWED, 'access-control-request-method': 'POST' },
      });
      await answer.body.dump();
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await plain.close();
    }
  });
});

describe('INTROSPECTION', () => {
  const introspection = '{ __schema { queryType { name } } }';
  const typo = '{ usr(userName: "x") { userName } }';

  it('is on by default, with field suggestions', async () => {
    expect((await stack.graphql(introspection, undefined, { token: null })).data).toEqual({
      __schema: { queryType: { name: 'Query' } },
    });
    const answer = await stack.graphql(typo);
    expect(answer.errors?.[0]?.message).toMatch(/Did you mean "user/);
  });

  it('false turns introspection and field suggestions off', async () => {
    const closed = await startStack({ env: { INTROSPECTION: 'false' } });
    try {
      const refused = await closed.graphql(introspection, undefined, { token: null });
      expect(refused.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(refused.data ?? undefined).toBeUndefined();
      const typeQuery = await closed.graphql('{ __type(name: "User") { fields { name } } }', undefined, {
        token: null,
      });
      expect(typeQuery.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      const answer = await closed.graphql(typo);
      expect(answer.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(answer.errors?.[0]?.message).toMatch(/Cannot query field "usr"/);
      expect(answer.errors?.[0]?.message).not.toMatch(/Did you mean|"user"/);
      // Ordinary queries still work.
      expect((await closed.graphql('{ __typename }', undefined, { token: null })).data).toEqual({
        __typename: 'Query',
      });
    } finally {
      await closed.close();
    }
  });
});
