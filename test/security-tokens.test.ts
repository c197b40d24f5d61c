/**
 * Tokens never leave the Credential: with every log line captured at `debug` through queries with two tenants'
 * tokens (Token and Bearer forms), errors (unknown objects, a rejected token, an upstream error whose message
 * quotes the token), a mutation and a refused document, no token appears in a log line, a response or /metrics.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './harness.ts';

const REJECTED_TOKEN = 'rejected-token-7f3c9a1e5b2d';

let stack: Stack;
const logLines: string[] = [];
const responses: string[] = [];

async function call(query: string, authorization: string | null): Promise<Record<string, unknown>> {
  const response = await request(stack.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(authorization ? { authorization } : {}),
    },
    body: JSON.stringify({ query }),
  });
  const text = await response.body.text();
  responses.push(text);
  return JSON.parse(text) as Record<string, unknown>;
}

beforeAll(async () => {
  stack = await startStack({
    env: { LOG_LEVEL: 'debug' },
    logStream: { write: (line: string) => void logLines.push(line) },
  });
});
afterAll(() => stack.close());

describe('tokens stay out of logs, errors and metrics', () => {
  it('runs a session that handles tokens in every way', async () => {
    const { primary, secondary } = stack.sim.tokens;
    const fixtures = stack.sim.fixtures;
    const someUser = stack.sim.state().users()[0]?.userName ?? 'nobody';

    const mine = await call(
      '{ users(first: 5) { totalCount nodes { userName groups { name } } } }',
      `Token ${primary}`,
    );
    expect(mine).toHaveProperty('data.users.totalCount');
    const theirs = await call('{ users { totalCount } }', `Bearer ${secondary}`);
    expect(theirs).toHaveProperty('data.users.totalCount');
    await call(
      `{ task(taskId: "${fixtures.succeededTaskId}") { state log(tailLines: 3) } }`,
      `Token ${primary}`,
    );
    await call(
      '{ task(taskId: "999999999") { state } user(userName: "no-such-user") { userName } }',
      `Token ${primary}`,
    );

    const rejected = await call('{ users { totalCount } }', `Token ${REJECTED_TOKEN}`);
    expect(rejected).toHaveProperty('errors.0.extensions.code', 'UNAUTHENTICATED');

    // An upstream that quotes the token back in its error message.
    stack.sim.injectFault({
      path: '/service/api/security/groups*',
      status: 500,
      message: `internal failure while serving ${primary}`,
      times: 5,
    });
    const quoted = await call('{ groups { totalCount } }', `Token ${primary}`);
    expect(quoted).toHaveProperty('errors.0.extensions.code', 'UPSTREAM_ERROR');
    stack.sim.clearFaults();

    const mutation = await call(
      `mutation { enableUser(userName: ${JSON.stringify(someUser)}) { userName enabled } }`,
      `Token ${primary}`,
    );
    expect(mutation).toHaveProperty('data.enableUser.enabled', true);

    await call('{ users { totalCount }', `Token ${primary}`); // does not parse
    await call('{ usr { totalCount } }', `Token ${primary}`); // does not validate

    const metrics = await request(new URL('/metrics', stack.origin));
    responses.push(await metrics.body.text());
    expect(stack.sim.requests().filter((r) => r.token === primary).length).toBeGreaterThan(3);
  });

  it('captured the session at debug level, with request ids and error codes', () => {
    const entries = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.length).toBeGreaterThan(20);
    expect(entries.some((entry) => entry.level === 'debug' && entry.msg === 'graphql operation')).toBe(true);
    const withErrors = entries.filter((entry) => entry.msg === 'graphql operation had errors');
    expect(withErrors.flatMap((entry) => entry.errorCodes as string[])).toEqual(
      expect.arrayContaining(['UNAUTHENTICATED', 'UPSTREAM_ERROR']),
    );
    expect(
      entries
        .filter((entry) => entry.msg === 'request')
        .every((entry) => typeof entry.requestId === 'string'),
    ).toBe(true);
  });

  it('no token appears in any log line, response or metric', () => {
    const { primary, secondary } = stack.sim.tokens;
    for (const token of [primary, secondary, REJECTED_TOKEN]) {
      expect(logLines.filter((line) => line.includes(token))).toEqual([]);
      expect(responses.filter((text) => text.includes(token))).toEqual([]);
    }
    expect(responses.join('\n')).toContain('gateway_upstream_requests_total');
  });
});
