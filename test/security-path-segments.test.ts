/**
 * Ids and names placed in an upstream path: empty, `.`, `..` and what decodes to them are refused before any
 * upstream call (BAD_USER_INPUT; the download route answers 400), through every endpoint that builds such a path.
 * Without the check, `task(taskId: "..")` would send `GET /service/api/task/` and `/exports/%2e%2e/file` would
 * send `GET /service/api/export/` with EPMWARE_TOKEN.
 */

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PRIMARY_TOKEN } from '../src/simulator/index.ts';
import { type Stack, startStack } from './harness.ts';
import { rawGet } from './raw-get.ts';
import { sseEvents } from './subscription-clients.ts';

const DOT_SEGMENTS = ['.', '..', '%2e%2e', '%2E', '%252e%252e', '.%2e'];

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { EPMWARE_TOKEN: PRIMARY_TOKEN }, logStream: { write: () => {} } });
});
afterAll(() => stack.close());
beforeEach(() => stack.sim.clearRequests());

function codes(answer: { errors?: Array<{ extensions?: Record<string, unknown> }> }): unknown[] {
  return (answer.errors ?? []).map((error) => error.extensions?.code);
}

describe('GraphQL fields that put an id or name in a path', () => {
  const fields: Array<[string, string]> = [
    ['task', 'query ($v: ID!) { task(taskId: $v) { state } }'],
    ['node(Task)', 'query ($v: ID!) { node(id: $v) { id } }'],
    ['enableUser', 'mutation ($v: String!) { enableUser(userName: $v) { userName } }'],
    ['disableUser', 'mutation ($v: String!) { disableUser(userName: $v) { userName } }'],
    [
      'updateSsoUser',
      'mutation ($v: String!) { updateSsoUser(userName: $v, input: { firstName: "X" }) { userName } }',
    ],
    [
      'setUsersEnabled',
      'mutation ($v: String!) { setUsersEnabled(userNames: [$v], enabled: true) { ok error { code } } }',
    ],
  ];
  for (const [field, document] of fields) {
    it(`${field}: ${DOT_SEGMENTS.join(' ')} are BAD_USER_INPUT with zero upstream requests`, async () => {
      for (const value of DOT_SEGMENTS) {
        const v = field === 'node(Task)' ? Buffer.from(`Task:${value}`).toString('base64') : value;
        const answer = await stack.graphql<{
          setUsersEnabled?: Array<{ ok: boolean; error: { code: string } }>;
        }>(document, { v });
        const refused = answer.data?.setUsersEnabled?.[0]?.error?.code ?? codes(answer)[0];
        expect(refused, `${field}(${value})`).toBe('BAD_USER_INPUT');
      }
      expect(stack.sim.requests()).toEqual([]);
    });
  }

  it(`taskUpdates (SSE): ${DOT_SEGMENTS.join(' ')} end the stream with BAD_USER_INPUT, zero upstream requests`, async () => {
    for (const value of DOT_SEGMENTS) {
      const events = await sseEvents(stack, value);
      expect(events.at(-1)?.errors?.[0]?.extensions?.code, `taskUpdates(${value})`).toBe('BAD_USER_INPUT');
    }
    expect(stack.sim.requests()).toEqual([]);
  });

  it('a legitimate id with dots inside still works', async () => {
    const answer = await stack.graphql<{ task: null }>('query ($v: ID!) { task(taskId: $v) { state } }', {
      v: '1.2',
    });
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.task).toBeNull();
    expect(stack.sim.requests().map((r) => r.path)).toEqual(['/service/api/task/get_status/1.2']);
  });
});

describe('the download route', () => {
  for (const segment of ['.', '..', '%2e%2e', '%2E', '%252e%252e', '.%2E']) {
    it(`/exports/${segment}/file is 400 BAD_USER_INPUT, nothing sent (not even with EPMWARE_TOKEN)`, async () => {
      const response = await rawGet(stack.origin, `/exports/${segment}/file`);
      expect(response.status).toBe(400);
      expect(JSON.parse(response.body)).toMatchObject({ code: 'BAD_USER_INPUT' });
      expect(stack.sim.requests()).toEqual([]);
    });
  }
});
