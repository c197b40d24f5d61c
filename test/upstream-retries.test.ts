/**
 * Retries, deadlines and redirects of the upstream client, over real HTTP with faults injected in the simulator.
 * GETs are retried on 502/503/504 and connection errors; POST/PUT/PATCH never; a 429 is waited out when its
 * Retry-After fits in UPSTREAM_TIMEOUT_MS; a slow upstream gives UPSTREAM_TIMEOUT; redirects are not followed.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../src/errors.ts';
import { GatewayMetrics } from '../src/observability/metrics.ts';
import { UpstreamClient } from '../src/upstream/client.ts';
import { Credential } from '../src/upstream/credential.ts';
import { Epmware } from '../src/upstream/epmware.ts';
import { backoffMs, retryAfterMs, retryDelayMs } from '../src/upstream/retry.ts';
import { type Stack, startStack } from './harness.ts';

const USERS = '/service/api/security/users';
const USERS_QUERY = /* GraphQL */ '{ users { totalCount } }';

function epmware(stack: Stack): Epmware {
  return new Epmware(stack.gateway.services.upstream, new Credential(stack.token));
}

async function failureOf(promise: Promise<unknown>): Promise<GatewayError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof GatewayError)) throw new Error(`expected a GatewayError, got ${String(outcome)}`);
  return outcome;
}

describe('retries (UPSTREAM_TIMEOUT_MS=5000)', () => {
  let stack: Stack;
  beforeAll(async () => {
    // The cache is off so each query goes upstream; the breaker is out of reach so failures here do not open it.
    stack = await startStack({
      env: { CACHE_TTL_MS: '0', UPSTREAM_TIMEOUT_MS: '5000' },
      upstream: { breaker: { minimumFailures: 1000 } },
    });
  });
  afterAll(() => stack.close());
  beforeEach(() => {
    stack.sim.clearFaults();
    stack.sim.clearRequests();
  });

  it('a GET that gets 503 twice then succeeds returns the data', async () => {
    stack.sim.injectFault({ path: USERS, method: 'GET', status: 503, times: 2 });
    const result = await stack.graphql<{ users: { totalCount: number } }>(USERS_QUERY);
    expect(result.errors).toBeUndefined();
    expect(result.data?.users.totalCount).toBe(stack.sim.state().users().length);
    expect(stack.sim.requests({ path: USERS }).map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('a GET that always gets 503 gives UPSTREAM_UNAVAILABLE after 3 retries, within a bounded time', async () => {
    stack.sim.injectFault({ path: USERS, method: 'GET', status: 503, message: 'Service down' });
    const started = Date.now();
    const result = await stack.graphql(USERS_QUERY);
    const elapsed = Date.now() - started;
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      upstreamStatus: 503,
    });
    expect(result.errors?.[0]?.message).toContain('Service down');
    expect(stack.sim.requests({ path: USERS }).map((r) => r.status)).toEqual([503, 503, 503, 503]);
    // Backoff is at most 200 + 400 + 800 ms: far below the 5 s deadline.
    expect(elapsed).toBeLessThan(3_000);
  });

  it('a socket reset on a GET is retried', async () => {
    stack.sim.injectFault({ path: USERS, method: 'GET', reset: true, times: 1 });
    const result = await stack.graphql<{ users: { totalCount: number } }>(USERS_QUERY);
    expect(result.errors).toBeUndefined();
    expect(result.data?.users.totalCount).toBe(stack.sim.state().users().length);
    expect(stack.sim.requests({ path: USERS }).map((r) => r.status)).toEqual([0, 200]);
  });

  it.each([
    ['a 503', { status: 503 }],
    ['a socket reset', { reset: true }],
  ])('a deployment run (POST) that gets %s reaches the simulator exactly once', async (_label, fault) => {
    const path = '/service/api/deployment/run';
    stack.sim.injectFault({ path, method: 'POST', ...fault });
    const name = stack.sim.fixtures.deploymentNames[0] ?? '';
    const error = await failureOf(epmware(stack).runDeployment(name));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(stack.sim.requests({ path })).toHaveLength(1);
  });

  it('a PATCH that gets a 502 is not repeated either', async () => {
    const userName = stack.sim.state().users()[0]?.userName ?? '';
    stack.sim.injectFault({ path: '/service/api/security/users/sso/disable/*', status: 502 });
    const error = await failureOf(epmware(stack).setUserEnabled(userName, false));
    expect(error.code).toBe('UPSTREAM_ERROR');
    expect(stack.sim.requests({ path: '/service/api/security/users/sso/disable/*' })).toHaveLength(1);
  });

  it('a 429 with Retry-After: 1 on a GET is waited out (>= 1 s) and then succeeds', async () => {
    stack.sim.injectFault({ path: USERS, method: 'GET', retryAfter: '1', times: 1 });
    const started = Date.now();
    const result = await stack.graphql<{ users: { totalCount: number } }>(USERS_QUERY);
    const elapsed = Date.now() - started;
    expect(result.errors).toBeUndefined();
    expect(result.data?.users.totalCount).toBe(stack.sim.state().users().length);
    const seen = stack.sim.requests({ path: USERS });
    expect(seen.map((r) => r.status)).toEqual([429, 200]);
    expect(elapsed).toBeGreaterThanOrEqual(1_000);
    expect((seen[1]?.at ?? 0) - (seen[0]?.at ?? 0)).toBeGreaterThanOrEqual(990);
  });

  it('after a 429 the credential sends nothing more until its Retry-After has passed', async () => {
    stack.sim.injectFault({ path: USERS, method: 'GET', retryAfter: '1', times: 1 });
    const api = epmware(stack);
    const users = api.listUsers();
    while (!stack.sim.requests({ path: USERS }).some((r) => r.status === 429)) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const refusedAt = stack.sim.requests({ path: USERS })[0]?.at ?? 0;
    await Promise.all([users, api.listGroups()]);
    const groupsAt = stack.sim.requests({ path: '/service/api/security/groups' })[0]?.at ?? 0;
    expect(groupsAt - refusedAt).toBeGreaterThanOrEqual(990);
  });

  it('a 429 whose Retry-After does not fit in the deadline is RATE_LIMITED at once, and holds that token', async () => {
    // The other tenant's token: its budget stays held for the 60 s EPMware asked for.
    const token = stack.sim.tokens.secondary;
    stack.sim.injectFault({ path: USERS, method: 'GET', token, retryAfter: '60', times: 1 });
    const started = Date.now();
    const result = await stack.graphql(USERS_QUERY, {}, { token });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', upstreamStatus: 429 });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(stack.sim.requests({ path: USERS })).toHaveLength(1);
    // A later read with that token is refused by the gateway without reaching EPMware; the other token flows.
    const again = await stack.graphql('{ groups { totalCount } }', {}, { token });
    expect(again.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(stack.sim.requests()).toHaveLength(1);
    const primary = await stack.graphql<{ users: { totalCount: number } }>(USERS_QUERY);
    expect(primary.data?.users.totalCount).toBe(stack.sim.state().users().length);
  });
});

describe('deadline (UPSTREAM_TIMEOUT_MS=600)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CACHE_TTL_MS: '0', UPSTREAM_TIMEOUT_MS: '600' } });
  });
  afterAll(() => stack.close());

  it('an upstream slower than the timeout gives UPSTREAM_TIMEOUT within 2x the timeout', async () => {
    stack.sim.injectFault({ path: USERS, method: 'GET', delayMs: 3_000, times: 1 });
    const started = Date.now();
    const result = await stack.graphql(USERS_QUERY);
    const elapsed = Date.now() - started;
    expect(result.errors?.[0]?.extensions?.code).toBe('UPSTREAM_TIMEOUT');
    expect(elapsed).toBeLessThan(1_200);
    // A timeout is not retried: the deadline is spent.
    expect(stack.sim.requests({ path: USERS })).toHaveLength(1);
  });

  it('retries stop at the deadline: an always-503 GET answers within 2x the timeout', async () => {
    stack.sim.clearRequests();
    stack.sim.injectFault({ path: USERS, method: 'GET', status: 503 });
    const started = Date.now();
    const result = await stack.graphql(USERS_QUERY);
    expect(result.errors?.[0]?.extensions?.code).toMatch(/^UPSTREAM_(UNAVAILABLE|TIMEOUT)$/);
    expect(Date.now() - started).toBeLessThan(1_200);
    stack.sim.clearFaults();
  });
});

describe('tokens go to EPMWARE_URL only', () => {
  const servers: Server[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  async function listen(handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void) {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('a 302 to another origin is not followed: the other origin receives nothing', async () => {
    const elsewhere: IncomingMessage[] = [];
    const otherOrigin = await listen((req, res) => {
      elsewhere.push(req);
      res.end('{}');
    });
    const seen: Array<string | undefined> = [];
    const epmwareOrigin = await listen((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(302, { location: `${otherOrigin}/service/api/security/users` }).end();
    });
    const client = new UpstreamClient({
      baseUrl: new URL(epmwareOrigin),
      timeoutMs: 2_000,
      metrics: new GatewayMetrics(),
    });
    try {
      const api = new Epmware(client, new Credential('secret-token'));
      const error = await failureOf(api.listUsers());
      expect(error.code).toBe('UPSTREAM_ERROR');
      expect(seen).toEqual(['Token secret-token']);
      expect(elsewhere).toHaveLength(0);
    } finally {
      await client.close();
    }
  });
});

describe('retry policy', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(retryAfterMs({ 'retry-after': '3' })).toBe(3_000);
    const inTwoSeconds = new Date(Date.now() + 2_500).toUTCString();
    const fromDate = retryAfterMs({ 'retry-after': inTwoSeconds }) ?? -1;
    expect(fromDate).toBeGreaterThan(1_000);
    expect(fromDate).toBeLessThanOrEqual(2_500);
    expect(retryAfterMs({ 'retry-after': 'soon' })).toBeUndefined();
  });

  it('never repeats POST, PUT or PATCH, and gives up after 3 retries', () => {
    const unavailable = { kind: 'answer', status: 503, retryAfterMs: undefined } as const;
    for (const method of ['POST', 'PUT', 'PATCH'])
      expect(retryDelayMs(method, 0, unavailable, 10_000)).toBeNull();
    expect(retryDelayMs('GET', 2, unavailable, 10_000)).not.toBeNull();
    expect(retryDelayMs('GET', 3, unavailable, 10_000)).toBeNull();
    expect(
      retryDelayMs('GET', 0, { kind: 'answer', status: 500, retryAfterMs: undefined }, 10_000),
    ).toBeNull();
    expect(
      retryDelayMs('GET', 0, { kind: 'transport', code: 'ECONNRESET', timedOut: false }, 10_000),
    ).not.toBeNull();
  });

  it('backs off exponentially with jitter', () => {
    expect([0, 1, 2].map((n) => backoffMs(n, () => 0))).toEqual([100, 200, 400]);
    expect([0, 1, 2].map((n) => backoffMs(n, () => 1))).toEqual([200, 400, 800]);
  });
});
