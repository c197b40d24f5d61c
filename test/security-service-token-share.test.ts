/**
 * Clients without a token of their own share EPMWARE_TOKEN's budget; each client (by address) gets a fair share of
 * it, so one anonymous client cannot spend the whole budget (issue #19: three anonymous requests of 25 names each
 * spent the service token's 100/min, and a legitimate request then got RATE_LIMITED).
 */
import { connect } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { PRIMARY_TOKEN } from '../src/simulator/index.ts';
import { stackForFile } from './harness.ts';

const stack = stackForFile({
  env: {
    EPMWARE_TOKEN: PRIMARY_TOKEN,
    UPSTREAM_RATE_LIMIT_PER_MIN: '100',
    CACHE_TTL_MS: '0',
    TRUST_PROXY: 'true',
  },
});

/** Each client its own loopback address: a real peer address, as the gateway sees it without a proxy. */
const clients = new Map<string, Agent>();
function from(address: string): Agent {
  let agent = clients.get(address);
  if (!agent) {
    // undici's connect options do not pass localAddress on: a connector of our own binds the socket.
    agent = new Agent({
      connect: (options, done) => {
        const socket = connect({ host: options.hostname, port: Number(options.port), localAddress: address });
        socket.once('connect', () => done(null, socket));
        socket.once('error', (error) => done(error, null));
        return socket;
      },
    });
    clients.set(address, agent);
  }
  return agent;
}
afterAll(async () => {
  for (const agent of clients.values()) await agent.close();
});

/** 25 deployment names: one upstream call each. */
const QUERY = `query History($names: [String!]!) { deployments(names: $names) { name executions { id } } }`;
function names(prefix: string): string[] {
  return Array.from({ length: 25 }, (_, i) => `${prefix}-${i}`);
}

async function ask(
  options: { address?: string; headers?: Record<string, string> },
  prefix: string,
): Promise<{ codes: string[]; answered: number }> {
  const response = await request(stack.url, {
    method: 'POST',
    dispatcher: options.address ? from(options.address) : undefined,
    headers: { 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify({ query: QUERY, variables: { names: names(prefix) } }),
  });
  const body = (await response.body.json()) as {
    data?: { deployments: Array<{ executions: unknown }> } | null;
    errors?: Array<{ extensions?: { code?: string } }>;
  };
  const codes = (body.errors ?? []).map((error) => String(error.extensions?.code));
  return { codes, answered: codes.filter((code) => code !== 'RATE_LIMITED').length };
}

function upstreamCallsFor(prefix: string): number {
  return stack.sim
    .requests({ path: '/service/api/deployment/get_execution_details' })
    .filter((entry) => entry.query.name?.startsWith(`${prefix}-`)).length;
}

describe('the service token’s budget, shared fairly between clients without a token', () => {
  it('one client by its address gets a quarter of it; another client and a token-holder are still served', async () => {
    // Four requests of 25 names from one client would spend the whole 100/min.
    for (let i = 0; i < 4; i++) await ask({ address: '127.0.0.2' }, `greedy${i}`);
    const greedy = [0, 1, 2, 3].reduce((sum, i) => sum + upstreamCallsFor(`greedy${i}`), 0);
    expect(greedy).toBe(25);
    const refused = await ask({ address: '127.0.0.2' }, 'greedy-again');
    expect(refused.codes.every((code) => code === 'RATE_LIMITED')).toBe(true);
    expect(refused.codes).toHaveLength(25);
    expect(upstreamCallsFor('greedy-again')).toBe(0);

    // Another anonymous client: its own share, untouched.
    const other = await ask({ address: '127.0.0.3' }, 'other');
    expect(other.codes.filter((code) => code === 'RATE_LIMITED')).toHaveLength(0);
    expect(upstreamCallsFor('other')).toBe(25);

    // A client with its own token spends its own budget, not a share.
    const own = await ask(
      { address: '127.0.0.2', headers: { authorization: `Token ${stack.sim.tokens.secondary}` } },
      'own',
    );
    expect(own.codes.filter((code) => code === 'RATE_LIMITED')).toHaveLength(0);
    expect(upstreamCallsFor('own')).toBe(25);
  });

  it('behind a trusted proxy, the forwarded client address is the key', async () => {
    await ask({ headers: { 'x-forwarded-for': '203.0.113.7' } }, 'proxied-a');
    const again = await ask({ headers: { 'x-forwarded-for': '203.0.113.7' } }, 'proxied-b');
    expect(again.codes.every((code) => code === 'RATE_LIMITED')).toBe(true);
    const neighbour = await ask({ headers: { forwarded: 'for=203.0.113.8;proto=http' } }, 'proxied-c');
    expect(neighbour.codes.filter((code) => code === 'RATE_LIMITED')).toHaveLength(0);
    expect(
      upstreamCallsFor('proxied-a') + upstreamCallsFor('proxied-b') + upstreamCallsFor('proxied-c'),
    ).toBe(50);
  });
});
