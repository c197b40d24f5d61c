/**
 * Variables that are missing, of the wrong type or not coercible are BAD_USER_INPUT with HTTP 400, never 500
 * INTERNAL_SERVER_ERROR: on POST and GET /graphql (queries run by graphql-jit, mutations and subscriptions by
 * graphql-js), over a WebSocket, and on /reports/{id}.csv?variables=…; none reaches EPMware.
 */
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../src/persisted/manifest.ts';
import { type Stack, startStack } from './harness.ts';
import { type ManifestFile, writeManifestFile } from './persisted-fixture.ts';
import { wsClient } from './subscription-clients.ts';

const TASK = 'query Task($id: ID!) { task(taskId: $id) { state } }';
const USERS = 'query Users($n: Int) { users(first: $n) { nodes { userName } } }';
const ENABLE = 'mutation ($u: String!) { enableUser(userName: $u) { userName } }';
const WATCH = 'subscription ($t: ID!) { taskUpdates(taskId: $t) { state } }';

/** [what, document, variables]: a missing required variable, a wrong type, an uncoercible value. */
const BAD: Array<[string, string, Record<string, unknown>]> = [
  ['missing ID!', TASK, {}],
  ['an object for ID!', TASK, { id: { a: 1 } }],
  ['a string for Int', USERS, { n: 'ten' }],
  ['an Int out of range', USERS, { n: 1e20 }],
  ['a number for a mutation’s String!', ENABLE, { u: 5 }],
];

type Body = { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> };

let manifest: ManifestFile;
let stack: Stack;
beforeAll(async () => {
  manifest = writeManifestFile({ [sha256Hex(USERS)]: USERS });
  stack = await startStack({
    env: { PERSISTED_DOCUMENTS: manifest.path, CACHE_TTL_MS: '0' },
    logStream: { write: () => {} },
  });
});
afterAll(async () => {
  await stack.close();
  manifest.remove();
});
beforeEach(() => stack.sim.clearRequests());

function expectBadInput(status: number, body: Body, what: string): void {
  expect(status, what).toBe(400);
  expect(
    body.errors?.map((error) => error.extensions?.code),
    what,
  ).toEqual(['BAD_USER_INPUT']);
  expect(body.errors?.[0]?.message, what).toMatch(/^Variable "\$/);
}

describe('/graphql', () => {
  it('POST: each bad variable is 400 BAD_USER_INPUT naming the variable, nothing sent upstream', async () => {
    for (const [what, query, variables] of BAD) {
      const response = await request(stack.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Token ${stack.token}` },
        body: JSON.stringify({ query, variables }),
      });
      expectBadInput(response.statusCode, (await response.body.json()) as Body, what);
    }
    expect(stack.sim.requests()).toEqual([]);
  });

  it('GET: the same for queries', async () => {
    for (const [what, query, variables] of BAD.filter(([, query]) => query.startsWith('query'))) {
      const search = new URLSearchParams({ query, variables: JSON.stringify(variables) });
      const response = await request(`${stack.url}?${search}`, {
        headers: { accept: 'application/json', authorization: `Token ${stack.token}` },
      });
      expectBadInput(response.statusCode, (await response.body.json()) as Body, what);
    }
    expect(stack.sim.requests()).toEqual([]);
  });

  it('WebSocket: queries, mutations and subscriptions answer BAD_USER_INPUT', async () => {
    const cases: Array<[string, string, Record<string, unknown>]> = [
      ...BAD,
      ['a subscription without its variable', WATCH, {}],
    ];
    const client = wsClient(stack);
    try {
      for (const [what, query, variables] of cases) {
        const answers: Body[] = [];
        for await (const answer of client.iterate({ query, variables })) answers.push(answer as Body);
        expect(answers, what).toHaveLength(1);
        expect(
          answers[0]?.errors?.map((error) => error.extensions?.code),
          what,
        ).toEqual(['BAD_USER_INPUT']);
      }
    } finally {
      await client.dispose();
    }
    expect(stack.sim.requests()).toEqual([]);
  });
});

describe('/reports', () => {
  it('?variables= with a bad value is 400 BAD_USER_INPUT, nothing sent upstream', async () => {
    const variables = encodeURIComponent(JSON.stringify({ n: 'ten' }));
    const response = await request(`${stack.origin}/reports/${sha256Hex(USERS)}.csv?variables=${variables}`, {
      headers: { authorization: `Token ${stack.token}` },
    });
    expect(response.statusCode).toBe(400);
    expect(await response.body.json()).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(stack.sim.requests()).toEqual([]);
  });
});
