/**
 * Start-up as a process: each variable's bad value stops it with one line naming the variable and a non-zero exit;
 * no environment at all gives a working gateway over the embedded simulator, with a demo token that answers.
 */
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { type GatewayProcess, runUntilExit, startGatewayProcess } from './gateway-process.ts';

const BAD_VALUES: Array<[variable: string, value: string]> = [
  ['EPMWARE_URL', 'not a url'],
  ['PORT', '70000'],
  ['HOST', 'bad host/name'],
  ['TASK_POLL_INTERVAL_MS', '-5'],
  ['UPSTREAM_TIMEOUT_MS', 'soon'],
  ['UPSTREAM_RATE_LIMIT_PER_MIN', '0'],
  ['MAX_UPLOAD_BYTES', '-1'],
  ['CACHE_TTL_MS', '1.5'],
  ['CORS_ORIGINS', 'app.example.com'],
  ['INTROSPECTION', 'maybe'],
  ['LOG_LEVEL', 'verbose'],
  ['TRUST_PROXY', 'maybe'],
  ['EPMWARE_URL', 'ftp://acme.example.com'],
];

async function usersTotal(url: URL, token: string): Promise<unknown> {
  const response = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Token ${token}` },
    body: JSON.stringify({ query: '{ users { totalCount } }' }),
  });
  return response.body.json();
}

describe('configuration errors', () => {
  it('a bad value of each variable stops start-up with one line naming it and a non-zero exit', async () => {
    // Three at a time: each is a process, and the machine is shared.
    const results: Array<{ variable: string; exit: Awaited<ReturnType<typeof runUntilExit>> }> = [];
    for (let i = 0; i < BAD_VALUES.length; i += 3) {
      const batch = BAD_VALUES.slice(i, i + 3);
      results.push(
        ...(await Promise.all(
          batch.map(async ([variable, value]) => ({
            variable,
            exit: await runUntilExit({ [variable]: value }),
          })),
        )),
      );
    }
    for (const { variable, exit } of results) {
      expect(exit.code, variable).not.toBe(0);
      expect(exit.code, variable).not.toBeNull();
      const lines = exit.stderr.trim().split('\n');
      expect(lines, `${variable}: ${exit.stderr}`).toHaveLength(1);
      expect(lines[0]).toContain(variable);
      expect(exit.stdout, variable).not.toContain('GraphiQL at');
    }
  }, 120_000);
});

describe('starting', () => {
  let gateway: GatewayProcess | undefined;
  let simulator: Simulator | undefined;
  afterAll(async () => {
    await gateway?.stop();
    await simulator?.close();
  });

  it('with no environment: prints GraphiQL and a demo token that answers, and stops with exit 0', async () => {
    gateway = await startGatewayProcess();
    expect(gateway.url.pathname).toBe('/graphql');
    expect(gateway.simulatorUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(gateway.demoToken).toBeTruthy();
    const body = (await usersTotal(gateway.url, gateway.demoToken ?? '')) as {
      data?: { users: { totalCount: number } };
    };
    expect(body.data?.users.totalCount).toBeGreaterThan(0);
    const exit = await gateway.stop();
    expect(exit.code).toBe(0);
  });

  it('with EPMWARE_URL: uses that upstream, starts no simulator and prints no token', async () => {
    simulator = await startSimulator({ rateLimits: 'relaxed' });
    gateway = await startGatewayProcess({ EPMWARE_URL: simulator.url });
    expect(gateway.simulatorUrl).toBeUndefined();
    expect(gateway.demoToken).toBeUndefined();
    expect(gateway.stdout()).toContain(`Upstream: ${simulator.url}`);
    // Reachable: the start-up probe has nothing to say.
    expect(gateway.stdout()).not.toContain('Warning');
    expect(gateway.stdout()).not.toContain(simulator.tokens.primary);
    const body = (await usersTotal(gateway.url, simulator.tokens.primary)) as {
      data?: { users: { totalCount: number } };
    };
    expect(body.data?.users.totalCount).toBe(simulator.state().users().length);
    expect(simulator.requests({ path: '/service/api/security/*' }).length).toBeGreaterThan(0);
    expect((await gateway.stop()).code).toBe(0);
  });
});
