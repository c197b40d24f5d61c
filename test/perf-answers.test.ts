/**
 * The performance work changes how answers are computed, never what they are: the benchmark's queries (and the
 * cursors, orderings, filters and mentions around them) answer byte for byte what the code before it answered
 * (test/fixtures/perf-answers.json), cold and from the warm cache alike, and the list agrees with an independent
 * computation from the simulator's own data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './harness.ts';
import { answerBytes, fingerprint, PERF_QUERIES, readFixture, TENANT } from './perf-queries.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ simulator: TENANT });
}, 60_000);
afterAll(() => stack.close());

const fixture = readFixture();
const key = (name: string) => name.toLowerCase();

describe('answers are byte-identical to the committed fixture', () => {
  for (const [name, query] of Object.entries(PERF_QUERIES)) {
    it(name, async () => {
      const expected = fixture[name];
      // Cold (fetched), then warm (the cached, parsed answer) twice: the second warm answer proves the first
      // left the shared, frozen values as it found them.
      for (let round = 0; round < 3; round++) {
        const body = await answerBytes(stack, query);
        expect(body).not.toContain('"errors"');
        expect(fingerprint(body)).toEqual(expected);
      }
    });
  }
});

it('the 1,000-user list is the simulator users sorted by name, and users->groups their memberships', async () => {
  const state = stack.sim.state();
  const rows = [...state.users()].sort((a, b) => (key(a.userName) < key(b.userName) ? -1 : 1));
  const list = JSON.parse(await answerBytes(stack, PERF_QUERIES.list as string));
  expect(list.data.users.nodes).toEqual(
    rows.map((user) => ({ userName: user.userName, firstName: user.firstName, email: user.email })),
  );
  const withGroups = JSON.parse(await answerBytes(stack, PERF_QUERIES.usersGroups as string));
  expect(withGroups.data.users.nodes).toEqual(
    rows.map((user) => ({
      userName: user.userName,
      groups: [...state.groupsOf(user.userName)]
        .sort((a, b) => (key(a) < key(b) ? -1 : 1))
        .map((name) => ({ name })),
    })),
  );
});
