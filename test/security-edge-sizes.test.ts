/**
 * Sizes and shapes checked at the edge, before any upstream call. A token is at most 4,096 characters (longer:
 * UNAUTHENTICATED, a WebSocket closed 4403). An id or name EPMware receives, in a path, a query or a body, is 1 to
 * 256 characters without `/`, `\` or control characters, also once percent-decoded: BAD_USER_INPUT (400 on the
 * download route). Legitimate names (spaces, dots, `@`, non-ASCII, exactly 256 characters) still go through.
 * After a flood of oversized tokens and ids (the attack) another tenant is served and /readyz is clean.
 */

import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PRIMARY_TOKEN, SECONDARY_TOKEN } from '../src/simulator/index.ts';
import { type Stack, startStack } from './harness.ts';
import { rawGet } from './raw-get.ts';
import { sseEvents, wsClient, wsEvents } from './subscription-clients.ts';

/** What the contract refuses: separators, traversal once or twice encoded, 257 characters, control characters. */
const REFUSED: Array<[string, string]> = [
  ['a slash', '1/2'],
  ['a backslash', '1\\2'],
  ['an encoded traversal', '..%2f..%2fsecurity%2fusers'],
  ['an encoded slash', '%2F'],
  ['a twice-encoded slash', 'a%252Fb'],
  ['257 characters', 'n'.repeat(257)],
  ['a control character', 'a\u0007b'],
  ['a NUL', '\u0000'],
  ['DEL', 'x\u007f'],
  ['a C1 control (NEL)', 'x\u0085y'],
  ['an encoded control character', 'a%0Ab'],
];

let stack: Stack;
beforeAll(async () => {
  // EPMWARE_TOKEN is the other tenant's: a refused request that fell back to it would show in the simulator's log.
  stack = await startStack({
    env: { EPMWARE_TOKEN: SECONDARY_TOKEN, CACHE_TTL_MS: '0' },
    logStream: { write: () => {} },
  });
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.sim.clearRequests();
  stack.sim.clearFaults();
});

type Answer = {
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
};

function firstCode(answer: Answer): unknown {
  const bulk = answer.data?.setUsersEnabled as Array<{ error: { code: string } | null }> | undefined;
  return bulk?.[0]?.error?.code ?? answer.errors?.[0]?.extensions?.code;
}

describe('ids and names', () => {
  const fields: Array<[string, string, (v: string) => Record<string, unknown>]> = [
    ['task', 'query ($v: ID!) { task(taskId: $v) { state } }', (v) => ({ v })],
    [
      'node(Task)',
      'query ($v: ID!) { node(id: $v) { id } }',
      (v) => ({ v: Buffer.from(`Task:${v}`).toString('base64') }),
    ],
    ['enableUser', 'mutation ($v: String!) { enableUser(userName: $v) { userName } }', (v) => ({ v })],
    [
      'updateSsoUser',
      'mutation ($v: String!) { updateSsoUser(userName: $v, input: { firstName: "X" }) { userName } }',
      (v) => ({ v }),
    ],
    [
      'setUsersEnabled',
      'mutation ($v: String!) { setUsersEnabled(userNames: [$v], enabled: false) { error { code } } }',
      (v) => ({ v }),
    ],
    [
      'deployment.executions (a query parameter)',
      'query ($v: String!) { deployment(name: $v) { executions { state } } }',
      (v) => ({ v }),
    ],
    [
      'export.latestExecution (a query parameter)',
      'query ($v: String!) { export(name: $v) { latestExecution { state } } }',
      (v) => ({ v }),
    ],
    [
      'runDeployment (a body)',
      'mutation ($v: String!) { runDeployment(name: $v) { taskId } }',
      (v) => ({ v }),
    ],
    ['runExport(bookName)', 'mutation ($v: String) { runExport(bookName: $v) { taskId } }', (v) => ({ v })],
    ['runErpImport', 'mutation ($v: String!) { runErpImport(name: $v) { taskId } }', (v) => ({ v })],
    [
      'assignUserToGroups(groupNames)',
      'mutation ($v: String!) { assignUserToGroups(userName: "jane.doe@example.com", groupNames: [$v]) { userName } }',
      (v) => ({ v }),
    ],
    [
      'createSsoUser(userName)',
      'mutation ($v: String!) { createSsoUser(input: { userName: $v, firstName: "A", email: "a@example.com" }) { userName } }',
      (v) => ({ v }),
    ],
  ];
  for (const [field, document, variables] of fields) {
    it(`${field}: each refused value is BAD_USER_INPUT with zero upstream calls`, async () => {
      for (const [what, value] of REFUSED) {
        const answer = await stack.graphql(document, variables(value));
        expect(firstCode(answer), `${field}: ${what}`).toBe('BAD_USER_INPUT');
      }
      expect(stack.sim.requests()).toEqual([]);
    });
  }

  it('the message names the argument and does not echo a long value whole', async () => {
    const answer = await stack.graphql('query ($v: ID!) { task(taskId: $v) { state } }', {
      v: 'x'.repeat(60_000),
    });
    const message = answer.errors?.[0]?.message ?? '';
    expect(message).toMatch(/^taskId may be at most 256 characters, got 60000/);
    expect(message.length).toBeLessThan(200);
  });

  it('taskUpdates over SSE and a WebSocket: the stream ends with BAD_USER_INPUT, nothing sent', async () => {
    const client = wsClient(stack);
    try {
      for (const [what, value] of REFUSED) {
        const overSse = await sseEvents(stack, value);
        expect(overSse.at(-1)?.errors?.[0]?.extensions?.code, `SSE: ${what}`).toBe('BAD_USER_INPUT');
        const overWs = await wsEvents(client, value);
        expect(overWs.at(-1)?.errors?.[0]?.extensions?.code, `WS: ${what}`).toBe('BAD_USER_INPUT');
      }
    } finally {
      await client.dispose();
    }
    expect(stack.sim.requests()).toEqual([]);
  });

  it('legitimate names still reach EPMware: e-mails, spaces, dots, non-ASCII, 256 characters, "50% off"', async () => {
    const names = [
      'zoë.o’brien+test@example.com',
      'Q1 Budget v2.1 — Zoë',
      'n'.repeat(256),
      '50% off',
      '名前',
    ];
    for (const name of names) {
      await stack.graphql('mutation ($v: String!) { enableUser(userName: $v) { userName } }', { v: name });
      await stack.graphql('query ($v: String!) { deployment(name: $v) { executions { state } } }', {
        v: name,
      });
    }
    const sent = stack.sim.requests();
    expect(sent).toHaveLength(names.length * 2);
    expect(sent.filter((r) => r.path.startsWith('/service/api/security/users/sso/enable/'))).toHaveLength(
      names.length,
    );
    expect(
      sent.filter((r) => r.path === '/service/api/deployment/get_execution_details').map((r) => r.query.name),
    ).toEqual(names);
  });
});

describe('the download route', () => {
  const paths: Array<[string, string]> = [
    ['an encoded slash', '1%2F2'],
    ['a backslash as sent', '1\\2'],
    ['an encoded backslash', '1%5C2'],
    ['a twice-encoded traversal', '..%252f..%252fsecurity%252fusers'],
    ['257 characters', '7'.repeat(257)],
    ['an encoded control character', 'a%07b'],
  ];
  it('1/2 as sent is no route at all: 404, nothing sent', async () => {
    const response = await rawGet(stack.origin, '/exports/1/2/file', {
      authorization: `Token ${PRIMARY_TOKEN}`,
    });
    expect(response.status).toBe(404);
    expect(stack.sim.requests()).toEqual([]);
  });
  for (const [what, segment] of paths) {
    it(`${what}: 400 BAD_USER_INPUT, nothing sent`, async () => {
      const response = await rawGet(stack.origin, `/exports/${segment}/file`, {
        authorization: `Token ${PRIMARY_TOKEN}`,
      });
      expect(response.status).toBe(400);
      expect(JSON.parse(response.body)).toMatchObject({ code: 'BAD_USER_INPUT' });
      expect(stack.sim.requests()).toEqual([]);
    });
  }
});

describe('tokens', () => {
  async function users(authorization: string) {
    const response = await request(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify({ query: '{ users { totalCount } }' }),
    });
    return { status: response.statusCode, body: (await response.body.json().catch(() => ({}))) as Answer };
  }

  it('4,097 characters is UNAUTHENTICATED naming the limit, nothing sent; 4,096 is sent as it came', async () => {
    const long = await users(`Token ${'a'.repeat(4_097)}`);
    expect(long.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(long.body.errors?.[0]?.message).toMatch(/longer than 4,096 characters/);
    expect(stack.sim.requests()).toEqual([]);
    const longest = await users(`Bearer ${'a'.repeat(4_096)}`);
    // EPMware does not know it (401), but it was the client's to send.
    expect(longest.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(stack.sim.requests().map((r) => r.token?.length)).toEqual([4_096]);
  });

  it('a 20 KB token over HTTP is refused (Node answers 431 past its 16 KB header limit), nothing sent', async () => {
    const answer = await users(`Token ${'a'.repeat(20_000)}`);
    expect([401, 431]).toContain(answer.status);
    expect(stack.sim.requests()).toEqual([]);
  });

  it('the download route answers 401 for a 5 KB token, nothing sent', async () => {
    const response = await rawGet(stack.origin, `/exports/${stack.sim.fixtures.exportTaskId}/file`, {
      authorization: `Token ${'a'.repeat(5_000)}`,
    });
    expect(response.status).toBe(401);
    expect(stack.sim.requests()).toEqual([]);
  });

  it('a 20 KB token in connection_init closes the WebSocket with 4403, nothing sent', async () => {
    const client = wsClient(stack, { authorization: `Token ${'a'.repeat(20_000)}` });
    const closed = new Promise<number>((resolve) =>
      client.on('closed', (event) => resolve((event as { code: number }).code)),
    );
    await expect(wsEvents(client, stack.sim.fixtures.succeededTaskId)).rejects.toBeDefined();
    expect(await closed).toBe(4403);
    await client.dispose();
    expect(stack.sim.requests()).toEqual([]);
  });
});

describe('the issue’s flood, behind a front door that resets oversized requests', () => {
  it('six 20 KB-token WebSockets and six 60 KB task ids: nothing sent, another tenant served, /readyz clean', async () => {
    // As EPMware's front door did: a request whose head is over 16 KB gets its connection reset.
    stack.sim.injectFault({ path: '/service/api/*', minHeaderBytes: 16 * 1024, reset: true });
    const sockets = Array.from({ length: 6 }, (_, i) =>
      wsClient(stack, { authorization: `Token ${String(i).repeat(20_000)}` }),
    );
    const refusals = sockets.map((client) =>
      wsEvents(client, stack.sim.fixtures.succeededTaskId).then(
        () => 'answered',
        () => 'refused',
      ),
    );
    const ids = Array.from({ length: 6 }, (_, i) =>
      stack.graphql('query ($v: ID!) { task(taskId: $v) { state } }', { v: String(i).repeat(60_000) }),
    );
    expect(await Promise.all(refusals)).toEqual(Array(6).fill('refused'));
    for (const answer of await Promise.all(ids)) expect(firstCode(answer)).toBe('BAD_USER_INPUT');
    await Promise.all(sockets.map((client) => client.dispose()));
    expect(stack.sim.requests()).toEqual([]);

    const other = await stack.graphql<{ users: { totalCount: number } }>(
      '{ users { totalCount } }',
      undefined,
      {
        token: SECONDARY_TOKEN,
      },
    );
    expect(other.errors).toBeUndefined();
    expect(other.data?.users.totalCount).toBe(stack.sim.state(SECONDARY_TOKEN).users().length);
    const ready = await request(`${stack.origin}/readyz`);
    expect(ready.statusCode).toBe(200);
    expect(await ready.body.json()).toMatchObject({ circuit: 'closed', openServices: [] });
  });
});
