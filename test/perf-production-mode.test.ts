/**
 * graphql-js drops its development-mode checks when NODE_ENV=production, as the start scripts and the bench set
 * it: nothing in the gateway may depend on NODE_ENV being unset. The same process, started both ways, gives the
 * same answers, error codes and masking.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type GatewayProcess, startGatewayProcess } from './gateway-process.ts';

const processes: Record<string, GatewayProcess> = {};
beforeAll(async () => {
  processes.unset = await startGatewayProcess({ LOG_LEVEL: 'error' });
  processes.production = await startGatewayProcess({ LOG_LEVEL: 'error', NODE_ENV: 'production' });
}, 60_000);
afterAll(async () => {
  for (const gateway of Object.values(processes)) await gateway.stop();
});

const QUERIES = [
  '{ users(first: 20) { totalCount pageInfo { endCursor } nodes { id userName email groups { name users { userName } } } } }',
  '{ users(first: 5000) { totalCount } }',
  '{ user(userName: "no.such.user") { userName } node(id: "bm90IGFuIGlk") { id } }',
  '{ task(taskId: "") { state } }',
];

async function ask(gateway: GatewayProcess, query: string): Promise<unknown> {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Token ${gateway.demoToken}` },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, body: await response.json() };
}

it('answers, error codes and masking are the same with NODE_ENV=production', async () => {
  const unset = processes.unset as GatewayProcess;
  const production = processes.production as GatewayProcess;
  for (const query of QUERIES) {
    const [a, b] = [await ask(unset, query), await ask(production, query)];
    expect(b).toEqual(a);
  }
  // The queries above do reach errors: a page over the limit and a blank task id are BAD_USER_INPUT.
  expect(JSON.stringify(await ask(production, QUERIES[1] as string))).toContain('BAD_USER_INPUT');
  expect(JSON.stringify(await ask(production, QUERIES[3] as string))).toContain('BAD_USER_INPUT');
}, 60_000);
