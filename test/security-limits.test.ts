/**
 * Query and request limits: a document just inside each limit runs, one just outside is refused with
 * GRAPHQL_VALIDATION_FAILED and HTTP 400 before EPMware sees a single request; abusive requests (deep, aliased,
 * huge, malformed, batched) are all refused and the gateway keeps serving.
 */
import { Readable } from 'node:stream';
import { getIntrospectionQuery } from 'graphql';
import { Client, request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_JSON_BODY_BYTES } from '../src/plugins/body-limit.ts';
import { QUERY_LIMITS } from '../src/plugins/query-limits.ts';
import { type Stack, startStack } from './harness.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => stack.sim.clearRequests());

/** `depth` nested levels through introspection types: schema-independent and free of upstream calls. */
function nested(depth: number): string {
  const levels = [
    '__type(name: "Query")',
    'fields',
    'type',
    ...Array<string>(Math.max(0, depth - 4)).fill('ofType'),
  ];
  return `{ ${levels.join(' { ')} { name }${' }'.repeat(levels.length - 1)} }`;
}

/** armor's cost for this document is 5 000 + 2 250 × repeats (first: 1000 multiplies every level below it). */
function costly(repeats: number): string {
  return `{ users(first: 1000) { nodes { ${'userName '.repeat(repeats)}} } }`;
}

function aliased(count: number): string {
  return `{ ${Array.from({ length: count }, (_, i) => `a${i}: __type(name: "Query") { name }`).join(' ')} }`;
}

function directives(count: number): string {
  return `{ ${'__typename @include(if: true) '.repeat(count)}}`;
}

/**
 * Exactly `count` tokens. Fragments carry the bulk: repeating one field thousands of times would instead trip
 * graphql-js' own budget for comparing same-named fields.
 */
function tokens(count: number): string {
  const fragments = Math.floor((count - 2) / 9); // `...Fn` is 2 tokens, `fragment Fn on Query { __typename }` 7
  const fields = count - 2 - fragments * 9;
  const spreads = Array.from({ length: fragments }, (_, i) => `...F${i}`).join(' ');
  const definitions = Array.from({ length: fragments }, (_, i) => `fragment F${i} on Query { __typename }`);
  return `{ ${spreads} ${'__typename '.repeat(fields)}} ${definitions.join(' ')}`;
}

async function expectRefused(query: string, limitWords: RegExp) {
  const response = await stack.graphql(query);
  expect(response.status).toBe(400);
  expect(response.data ?? undefined).toBeUndefined();
  expect(response.errors?.map((error) => error.extensions?.code)).toContain('GRAPHQL_VALIDATION_FAILED');
  expect(response.errors?.map((error) => error.message)).toContainEqual(expect.stringMatching(limitWords));
  expect(stack.sim.requests()).toEqual([]);
}

async function expectAccepted(query: string) {
  const response = await stack.graphql(query);
  expect(response.errors).toBeUndefined();
  expect(response.status).toBe(200);
  return response;
}

describe('query limits', () => {
  it(`depth: ${QUERY_LIMITS.maxDepth} levels run, one more is refused`, async () => {
    await expectAccepted(nested(QUERY_LIMITS.maxDepth));
    await expectRefused(nested(QUERY_LIMITS.maxDepth + 1), /depth limit of 10 exceeded, found 11/i);
  });

  it(`cost: just under ${QUERY_LIMITS.maxCost} runs, just over is refused`, async () => {
    const inside = await expectAccepted(costly(42)); // 99 500
    expect(inside.data).toHaveProperty('users.nodes');
    expect(stack.sim.requests().length).toBeGreaterThan(0);
    stack.sim.clearRequests();
    await expectRefused(costly(43), /cost limit of 100000 exceeded, found 101750/i);
  });

  it(`aliases: ${QUERY_LIMITS.maxAliases} run, one more is refused`, async () => {
    await expectAccepted(aliased(QUERY_LIMITS.maxAliases));
    await expectRefused(aliased(QUERY_LIMITS.maxAliases + 1), /aliases limit of 30 exceeded, found 31/i);
  });

  it(`directives: ${QUERY_LIMITS.maxDirectives} run, one more is refused`, async () => {
    await expectAccepted(directives(QUERY_LIMITS.maxDirectives));
    await expectRefused(
      directives(QUERY_LIMITS.maxDirectives + 1),
      /directives limit of 50 exceeded, found 51/i,
    );
  });

  it(`tokens: ${QUERY_LIMITS.maxTokens} run, one more is refused (as a validation failure, not a parse failure)`, async () => {
    await expectAccepted(tokens(QUERY_LIMITS.maxTokens));
    await expectRefused(tokens(QUERY_LIMITS.maxTokens + 1), /token limit of 3000 exceeded/i);
  });
});

describe("the contract's legitimate shapes fit", () => {
  it('1,000 users with their groups, those groups’ users and their groups (nodes and edges forms)', async () => {
    const viaNodes = await expectAccepted(
      '{ users(first: 1000) { nodes { userName groups { name users { userName groups { name } } } } } }',
    );
    expect(viaNodes.data).toHaveProperty('users.nodes.0.userName');
    await expectAccepted(
      '{ users(first: 1000) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { userName groups { users { groups { name } } } } } } }',
    );
  });

  it('a deployment dashboard over every deployment’s executions', async () => {
    const names = JSON.stringify(stack.sim.fixtures.deploymentNames);
    const execution = 'id name state status startedAt endedAt durationSeconds';
    const response = await expectAccepted(
      `{ deployments(names: ${names}) { name latestExecution { ${execution} } executions { ${execution} } } }`,
    );
    expect(response.data).toHaveProperty('deployments.0.name');
  });

  it('GraphiQL’s full introspection query', async () => {
    const query = getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
    });
    const response = await expectAccepted(query);
    expect(response.data).toHaveProperty('__schema.queryType.name', 'Query');
  });
});

describe('abusive requests', () => {
  async function post(body: string, contentType = 'application/json') {
    const response = await request(stack.url, {
      method: 'POST',
      headers: { 'content-type': contentType, authorization: `Token ${stack.token}` },
      body,
    });
    const text = await response.body.text();
    return {
      status: response.statusCode,
      body: JSON.parse(text) as { errors?: Array<{ extensions?: { code?: string } }> },
    };
  }

  it('a 30-deep query is refused', async () => {
    await expectRefused(nested(30), /depth limit/i);
    const deepUsers = `{ users { nodes { ${'groups { users { '.repeat(14)}userName${' } }'.repeat(14)} } } }`;
    await expectRefused(deepUsers, /depth limit/i);
  });

  it('1,000 aliases are refused', async () => {
    const response = await stack.graphql(
      `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: users { totalCount }`).join(' ')} }`,
    );
    expect(response.status).toBe(400);
    expect(response.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(stack.sim.requests()).toEqual([]);
  });

  it('a 100 KB query is refused as too large', async () => {
    const query = `{ ${'__typename '.repeat(Math.ceil(MAX_JSON_BODY_BYTES / 11) + 10)}}`;
    const { status, body } = await post(JSON.stringify({ query }));
    expect(status).toBe(413);
    expect(body.errors?.[0]?.extensions?.code).toBe('PAYLOAD_TOO_LARGE');
    expect(stack.sim.requests()).toEqual([]);
  });

  it('a large body without Content-Length (chunked) is cut off too', async () => {
    const query = JSON.stringify({ query: `{ ${'__typename '.repeat(20_000)}}` });
    const chunks = Readable.from(
      (function* () {
        for (let i = 0; i < query.length; i += 16_384) yield Buffer.from(query.slice(i, i + 16_384));
      })(),
    );
    // Its own connection: the gateway stops reading mid-body, and that connection is not reused.
    const client = new Client(stack.origin);
    try {
      const response = await client.request({
        method: 'POST',
        path: '/graphql',
        headers: { 'content-type': 'application/json' },
        body: chunks,
      });
      const body = (await response.body.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
      expect(response.statusCode).toBe(413);
      expect(body.errors?.[0]?.extensions?.code).toBe('PAYLOAD_TOO_LARGE');
    } finally {
      await client.destroy();
    }
  });

  it('malformed JSON is refused as GRAPHQL_PARSE_FAILED', async () => {
    const { status, body } = await post('{"query": "{ users { totalCount } }"');
    expect(status).toBe(400);
    expect(body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    expect(stack.sim.requests()).toEqual([]);
  });

  it('a document that does not parse is GRAPHQL_PARSE_FAILED (400; 200 for application/json-only clients, per the spec)', async () => {
    const modern = await stack.graphql('{ users { totalCount }', undefined, {
      headers: { accept: 'application/graphql-response+json' },
    });
    expect(modern.status).toBe(400);
    expect(modern.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    const legacy = await stack.graphql('{ users { totalCount }');
    expect(legacy.status).toBe(200);
    expect(legacy.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    expect(stack.sim.requests()).toEqual([]);
  });

  it('batched requests are refused', async () => {
    const one = { query: '{ users { totalCount } }' };
    const { status, body } = await post(JSON.stringify([one, one]));
    expect(status).toBe(400);
    expect(body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    expect(stack.sim.requests()).toEqual([]);
  });

  it('/healthz answers after all of the above, and so does a normal query', async () => {
    const health = await request(new URL('/healthz', stack.origin));
    expect(health.statusCode).toBe(200);
    expect(await health.body.json()).toEqual({ status: 'ok' });
    const response = await stack.graphql<{ users: { totalCount: number } }>('{ users { totalCount } }');
    expect(response.data?.users.totalCount).toBe(stack.sim.state().users().length);
  });
});
