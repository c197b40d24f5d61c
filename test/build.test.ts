/**
 * The production build: `npm run build` (CI runs it before the tests) emits JavaScript that plain `node` runs, with
 * no TypeScript loader. Skipped, visibly, when dist/ has not been built.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { BUILT_ENTRY, type GatewayProcess, PROJECT_ROOT, startGatewayProcess } from './gateway-process.ts';

const built = existsSync(join(PROJECT_ROOT, 'dist', 'main.js'));

let gateway: GatewayProcess | undefined;
afterAll(async () => {
  await gateway?.stop();
});

describe('node dist/main.js', () => {
  it.skipIf(!built)('starts without a TypeScript loader, answers a query and stops with exit 0', async () => {
    // NODE_OPTIONS emptied so no loader (tsx, the test runner's) can be inherited.
    // The production entry serves the simulator only when asked by name (firsthour-process.test.ts: else it refuses).
    gateway = await startGatewayProcess({ NODE_OPTIONS: '', EPMWARE_URL: 'simulator' }, BUILT_ENTRY);
    const response = await request(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Token ${gateway.demoToken}` },
      body: JSON.stringify({ query: '{ users { totalCount } }' }),
    });
    const body = (await response.body.json()) as { data?: { users: { totalCount: number } } };
    expect(body.data?.users.totalCount).toBeGreaterThan(0);
    expect((await gateway.stop()).code).toBe(0);
  });
});
