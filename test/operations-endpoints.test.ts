/**
 * What an operator asks the process: /healthz, /readyz (upstream reachable, circuit closed), /metrics moving with
 * the traffic, and request ids that tie a client's response to the log lines about it.
 */
import { createServer } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';
import { Credential } from '../src/upstream/credential.ts';
import { Epmware } from '../src/upstream/epmware.ts';
import { type Stack, startStack } from './harness.ts';

let stack: Stack;
const logLines: string[] = [];
beforeAll(async () => {
  stack = await startStack({
    env: { LOG_LEVEL: 'debug', CACHE_TTL_MS: '0' },
    logStream: { write: (line: string) => void logLines.push(line) },
  });
});
afterAll(() => stack.close());

async function get(origin: string, path: string, headers: Record<string, string> = {}) {
  const response = await request(new URL(path, origin), { headers });
  return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
}

/** Sum of a metric's samples whose labels include every given `name="value"` pair. */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  let total = 0;
  for (const line of metrics.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    if (wanted.every((pair) => (match[2] ?? '').includes(pair))) total += Number(match[3]);
  }
  return total;
}

describe('/healthz and /readyz', () => {
  it('/healthz says the process is alive', async () => {
    const health = await get(stack.origin, '/healthz');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toEqual({ status: 'ok' });
  });

  it('/readyz is ready while EPMware accepts connections and the circuit is closed', async () => {
    const ready = await get(stack.origin, '/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toEqual({
      status: 'ready',
      upstream: 'reachable',
      circuit: 'closed',
      openServices: [],
      redis: 'not configured',
    });
  });

  it('/readyz names the services whose circuit is open, and is 503 only once every one is', async () => {
    const fragile = await startStack({
      env: { CACHE_TTL_MS: '0' },
      upstream: { breaker: { minimumFailures: 1, cooldownMs: 60_000 } },
    });
    try {
      fragile.sim.injectFault({ path: '/service/api/security/*', status: 503 });
      // Two tenants fail: one credential's failures for one path are no evidence alone (breaker.ts).
      const failed = await fragile.graphql('{ users { totalCount } }');
      expect(failed.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
      await fragile.graphql('{ users { totalCount } }', undefined, { token: fragile.sim.tokens.secondary });
      const partly = await get(fragile.origin, '/readyz');
      expect(partly.status).toBe(200);
      expect(JSON.parse(partly.text)).toEqual({
        status: 'ready',
        upstream: 'reachable',
        circuit: 'partly open',
        openServices: ['security'],
        redis: 'not configured',
      });

      fragile.sim.injectFault({ path: '/service/api/*', status: 503 });
      for (const token of [fragile.token, fragile.sim.tokens.secondary]) {
        const api = new Epmware(fragile.gateway.services.upstream, new Credential(token));
        await Promise.allSettled([
          api.taskStatus(fragile.sim.fixtures.succeededTaskId),
          api.runErpImport('any'),
          api.deploymentExecutions('any', true),
          api.exportExecutions('any', true),
        ]);
      }
      const ready = await get(fragile.origin, '/readyz');
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.text)).toMatchObject({
        status: 'not ready',
        circuit: 'open',
        openServices: ['task', 'erp', 'deployment', 'export', 'security'],
      });
      const gauge = await get(fragile.origin, '/metrics');
      expect(sample(gauge.text, 'gateway_upstream_circuit_open')).toBe(5);
      // Liveness is not readiness: the process itself is fine.
      expect((await get(fragile.origin, '/healthz')).status).toBe(200);
    } finally {
      await fragile.close();
    }
  });

  it('/readyz is 503 when EPMware cannot be reached', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const gateway = createGateway(
      { ...loadConfig({ LOG_LEVEL: 'error' }), epmwareUrl: new URL(`http://127.0.0.1:${closedPort}`) },
      { logStream: { write: () => {} } },
    );
    const url = await gateway.listen(0, '127.0.0.1');
    try {
      const ready = await get(url.origin, '/readyz');
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.text)).toEqual({
        status: 'not ready',
        upstream: 'unreachable',
        circuit: 'closed',
        openServices: [],
        redis: 'not configured',
      });
    } finally {
      await gateway.close();
    }
  });
});

describe('/metrics', () => {
  it('is Prometheus text from the gateway’s registry', async () => {
    const metrics = await get(stack.origin, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const name of [
      'gateway_graphql_operations_total',
      'gateway_upstream_requests_total',
      'gateway_upstream_request_duration_seconds',
      'gateway_upstream_retries_total',
      'gateway_upstream_429_total',
      'gateway_upstream_cache_lookups_total',
      'gateway_budget_queue_length',
      'gateway_active_subscriptions',
      'gateway_active_task_pollers',
    ]) {
      expect(metrics.text).toContain(`# TYPE ${name} `);
    }
  });

  it('moves with a query: upstream requests, their latency, and the operation', async () => {
    const before = (await get(stack.origin, '/metrics')).text;
    stack.sim.clearRequests();
    const answer = await stack.graphql('{ users { totalCount } }');
    expect(answer.errors).toBeUndefined();
    const usersCalls = stack.sim.requests({ path: '/service/api/security/users' }).length;
    expect(usersCalls).toBeGreaterThan(0);
    const after = (await get(stack.origin, '/metrics')).text;

    const usersOk = { endpoint: 'security/users', method: 'GET', status: '200' };
    expect(
      sample(after, 'gateway_upstream_requests_total', usersOk) -
        sample(before, 'gateway_upstream_requests_total', usersOk),
    ).toBe(usersCalls);
    const latency = { endpoint: 'security/users' };
    expect(
      sample(after, 'gateway_upstream_request_duration_seconds_count', latency) -
        sample(before, 'gateway_upstream_request_duration_seconds_count', latency),
    ).toBe(usersCalls);
    const ok = { operation: 'query', outcome: 'ok' };
    expect(
      sample(after, 'gateway_graphql_operations_total', ok) -
        sample(before, 'gateway_graphql_operations_total', ok),
    ).toBe(1);
  });

  it('counts refused documents and failed operations by outcome', async () => {
    const before = (await get(stack.origin, '/metrics')).text;
    await stack.graphql('{ usr { totalCount } }');
    await stack.graphql('{ users { totalCount } }', undefined, { token: null });
    const after = (await get(stack.origin, '/metrics')).text;
    const delta = (labels: Record<string, string>) =>
      sample(after, 'gateway_graphql_operations_total', labels) -
      sample(before, 'gateway_graphql_operations_total', labels);
    expect(delta({ operation: 'query', outcome: 'rejected' })).toBe(1);
    expect(delta({ operation: 'query', outcome: 'error' })).toBe(1);
  });
});

describe('request ids', () => {
  it('echoes a sane incoming x-request-id, and logs the request and its operation under it', async () => {
    const response = await request(stack.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Token ${stack.token}`,
        'x-request-id': 'checkout-42.a',
      },
      body: JSON.stringify({ query: '{ users { totalCount } }' }),
    });
    await response.body.dump();
    expect(response.headers['x-request-id']).toBe('checkout-42.a');
    const mine = logLines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((e) => e.requestId === 'checkout-42.a');
    expect(mine.map((entry) => entry.msg)).toEqual(expect.arrayContaining(['graphql operation', 'request']));
    expect(mine.find((entry) => entry.msg === 'request')).toMatchObject({
      method: 'POST',
      path: '/graphql',
      status: 200,
    });
  });

  it('replaces an id that does not look like one, and gives every route an id', async () => {
    const odd = await get(stack.origin, '/healthz', { 'x-request-id': 'two words<script>' });
    expect(odd.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const fresh = await get(stack.origin, '/metrics');
    expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(fresh.headers['x-request-id']).not.toBe(odd.headers['x-request-id']);
  });
});
