/**
 * The benchmark's queries and a few neighbours (cursors, orderings, mentions, every User field), with the tenant
 * they run on, for test/perf-answers.test.ts: their answers must stay byte-identical while the hot path changes.
 * test/fixtures/perf-answers.json holds the SHA-256 and size of each answer as the code before the performance
 * work produced it (`npx tsx test/perf-queries.ts --write` regenerates it; only ever on purpose).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'undici';
import type { Stack } from './harness.ts';

export const TENANT = { users: 1_000, groups: 50 };

export const FIXTURE_FILE = new URL('./fixtures/perf-answers.json', import.meta.url);

export const PERF_QUERIES: Record<string, string> = {
  list: '{ users(first: 1000) { nodes { userName firstName email } } }',
  usersGroups: '{ users(first: 1000) { nodes { userName groups { name } } } }',
  deep: '{ users(first: 1000) { nodes { userName groups { name users { userName } } } } }',
  deepRows: '{ users(first: 200) { nodes { groups { users { userName firstName enabled userType } } } } }',
  everyField:
    '{ users(first: 1000) { totalCount nodes { id userName firstName lastName email description enabled userType } } }',
  edges:
    '{ users(first: 50, orderBy: { field: LAST_NAME, direction: DESC }) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { userName lastName } } } }',
  lastPage:
    '{ users(last: 20, orderBy: { field: EMAIL }) { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { email } } } }',
  filtered:
    '{ users(first: 1000, filter: { or: [{ enabled: false }, { inGroup: "Approver" }] }) { totalCount nodes { userName enabled groups { name } } } }',
  groups:
    '{ groups(first: 1000) { totalCount edges { cursor node { id name description enabled userCount users { userName email } } } } }',
  groupsDesc: '{ groups(first: 10, orderBy: { direction: DESC }) { pageInfo { endCursor } nodes { name } } }',
};

/** The exact bytes the gateway answers for a query (not re-serialised). */
export async function answerBytes(stack: Stack, query: string): Promise<string> {
  const response = await request(stack.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      authorization: `Token ${stack.token}`,
    },
    body: JSON.stringify({ query }),
  });
  return response.body.text();
}

export interface Fingerprint {
  sha256: string;
  bytes: number;
}

export function fingerprint(text: string): Fingerprint {
  return { sha256: createHash('sha256').update(text).digest('hex'), bytes: Buffer.byteLength(text) };
}

export function readFixture(): Record<string, Fingerprint> {
  return JSON.parse(readFileSync(FIXTURE_FILE, 'utf8')) as Record<string, Fingerprint>;
}

if (process.argv.includes('--write')) {
  const { startStack } = await import('./harness.ts');
  const stack = await startStack({ simulator: TENANT });
  const fixture: Record<string, Fingerprint> = {};
  for (const [name, query] of Object.entries(PERF_QUERIES)) {
    fixture[name] = fingerprint(await answerBytes(stack, query));
  }
  writeFileSync(FIXTURE_FILE, `${JSON.stringify(fixture, null, 2)}\n`);
  await stack.close();
  process.stdout.write(`${JSON.stringify(fixture, null, 2)}\n`);
}
