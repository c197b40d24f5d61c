/**
 * An answer that holds data fetched with a credential carries `Cache-Control: private, no-store` (contract,
 * "Errors"), so no shared cache keeps one tenant's data for another: GET and POST /graphql (a GET query is
 * otherwise cacheable), an SSE subscription, an @defer answer, the download route and the reports route.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../src/persisted/manifest.ts';
import { type Stack, startStack } from './harness.ts';
import { type ManifestFile, writeManifestFile } from './persisted-fixture.ts';

const USERS = 'query Users { users(first: 2) { nodes { userName } } }';

let manifest: ManifestFile;
let stack: Stack;
beforeAll(async () => {
  manifest = writeManifestFile({ [sha256Hex(USERS)]: USERS });
  stack = await startStack({
    env: { PERSISTED_DOCUMENTS: manifest.path, TASK_POLL_INTERVAL_MS: '100' },
    simulator: { taskDurationMs: 300 },
    logStream: { write: () => {} },
  });
});
afterAll(async () => {
  await stack.close();
  manifest.remove();
});

const auth = () => ({ authorization: `Token ${stack.token}` });

describe('Cache-Control: private, no-store', () => {
  it('POST /graphql', async () => {
    const response = await request(stack.url, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ query: USERS }),
    });
    expect(((await response.body.json()) as { data: unknown }).data).toBeTruthy();
    expect(response.headers['cache-control']).toBe('private, no-store');
  });

  it('GET /graphql, by text and by persisted id', async () => {
    for (const search of [`query=${encodeURIComponent(USERS)}`, `documentId=${sha256Hex(USERS)}`]) {
      const response = await request(`${stack.url}?${search}`, {
        headers: { ...auth(), accept: 'application/json' },
      });
      expect(((await response.body.json()) as { data: unknown }).data, search).toBeTruthy();
      expect(response.headers['cache-control'], search).toBe('private, no-store');
    }
  });

  it('an SSE subscription and an @defer answer', async () => {
    const sse = await request(stack.url, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({
        query: 'subscription ($t: ID!) { taskUpdates(taskId: $t) { state } }',
        variables: { t: stack.sim.fixtures.succeededTaskId },
      }),
    });
    expect(sse.headers['content-type']).toMatch(/text\/event-stream/);
    expect(await sse.body.text()).toContain('SUCCEEDED');
    expect(sse.headers['cache-control']).toBe('private, no-store');

    const deferred = await request(stack.url, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json', accept: 'multipart/mixed' },
      body: JSON.stringify({ query: '{ users(first: 1) { totalCount ... @defer { nodes { userName } } } }' }),
    });
    expect(deferred.headers['content-type']).toMatch(/multipart\/mixed/);
    await deferred.body.text();
    expect(deferred.headers['cache-control']).toBe('private, no-store');
  });

  it('the download and reports routes', async () => {
    const file = await request(`${stack.origin}/exports/${stack.sim.fixtures.exportTaskId}/file`, {
      headers: auth(),
    });
    await file.body.dump();
    expect(file.statusCode).toBe(200);
    expect(file.headers['cache-control']).toBe('private, no-store');

    const report = await request(`${stack.origin}/reports/${sha256Hex(USERS)}.csv`, { headers: auth() });
    await report.body.dump();
    expect(report.statusCode).toBe(200);
    expect(report.headers['cache-control']).toBe('private, no-store');
  });
});
