/**
 * Coalescing is bounded: at most `maxInFlightReads` distinct reads are joinable at once. A read beyond that simply
 * does not coalesce (it is sent on its own) and is not remembered, so a flood of distinct reads costs no memory.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Credential } from '../src/upstream/credential.ts';
import { Epmware } from '../src/upstream/epmware.ts';
import { type Stack, startStack } from './harness.ts';

const MEMBERS = '/service/api/security/groups/users';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    env: { CACHE_TTL_MS: '0' },
    upstream: { maxInFlightReads: 2 },
    logStream: { write: () => {} },
  });
});
afterAll(() => stack.close());

it('a flood of distinct reads: the first two coalesce, the rest go on their own, and nothing is kept after', async () => {
  const api = new Epmware(stack.gateway.services.upstream, new Credential(stack.token));
  const groups = stack.sim
    .state()
    .groups()
    .map((group) => group.name);
  expect(groups.length).toBeGreaterThanOrEqual(6);
  stack.sim.injectFault({ path: MEMBERS, delayMs: 300 });
  // Six distinct reads in flight (two tracked), then each asked again while they still are.
  const first = groups.slice(0, 6).map((name) => api.groupMembers(name));
  const again = groups.slice(0, 6).map((name) => api.groupMembers(name));
  const answers = await Promise.all([...first, ...again]);
  for (const [i, answer] of answers.entries()) expect(answer).toEqual(answers[i % 6]);
  const sent = stack.sim.requests({ path: MEMBERS }).map((r) => r.query.groupName);
  // Two joined their identical read in flight; the four beyond the bound were sent twice each.
  expect(sent).toHaveLength(2 + 4 * 2);
  for (const name of groups.slice(0, 2)) expect(sent.filter((each) => each === name)).toHaveLength(1);
  for (const name of groups.slice(2, 6)) expect(sent.filter((each) => each === name)).toHaveLength(2);

  // Settled reads leave the map: the same two reads are sent afresh (and coalesce again).
  stack.sim.clearRequests();
  await Promise.all([api.groupMembers(groups[0] ?? ''), api.groupMembers(groups[0] ?? '')]);
  expect(stack.sim.requests({ path: MEMBERS })).toHaveLength(1);
});
