/**
 * Metrics worth scraping (issue #21): the process' runtime metrics, latency by route and by operation type, upstream
 * latency by EPMware service, and METRICS_PORT keeping /metrics off the public port. After a mixed load, every label
 * set is bounded: ids, names and paths a client chose never become label values.
 */

import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { stackForFile } from './harness.ts';

const stack = stackForFile({ env: { METRICS_PORT: '0', CACHE_TTL_MS: '0' } });

function metricsOrigin(): string {
  const address = stack.gateway.metricsServer?.address() as AddressInfo;
  return `http://127.0.0.1:${address.port}`;
}

async function get(url: string, headers: Record<string, string> = {}) {
  const response = await request(url, { headers });
  return { status: response.statusCode, text: await response.body.text() };
}

/** Every value a label takes in a metric's samples. */
function labelValues(metrics: string, name: string, label: string): Set<string> {
  const values = new Set<string>();
  for (const line of metrics.split('\n')) {
    if (
      !line.startsWith(`${name}{`) &&
      !line.startsWith(`${name}_bucket{`) &&
      !line.startsWith(`${name}_count{`)
    )
      continue;
    const value = new RegExp(`${label}="([^"]*)"`).exec(line)?.[1];
    if (value !== undefined) values.add(value);
  }
  return values;
}

/** A mix of what clients do, with ids and paths that differ on every round. */
async function mixedLoad(round: number): Promise<void> {
  const id = randomUUID();
  await stack.graphql('{ users(first: 5) { nodes { userName groups { name } } } }');
  await stack.graphql(`{ deployment(name: "ASOALL") { latestExecution { status } } }`);
  await stack.graphql(`{ task(taskId: "${id}") { state } }`);
  await stack.graphql('{ usr }');
  await stack.graphql('mutation { enableUser(userName: "no-such-user") { enabled } }');
  await get(`${stack.origin}/exports/${id}/file`, { authorization: `Token ${stack.token}` });
  await get(`${stack.origin}/no/such/${id}/path-${round}`);
  await get(`${stack.origin}/healthz`);
}

describe('/metrics', () => {
  it('with METRICS_PORT: served on its own port, not on the public one; health on both', async () => {
    expect((await get(`${stack.origin}/metrics`)).status).toBe(404);
    expect((await get(`${metricsOrigin()}/metrics`)).status).toBe(200);
    expect((await get(`${metricsOrigin()}/healthz`)).status).toBe(200);
    expect((await get(`${stack.origin}/healthz`)).status).toBe(200);
    expect((await get(`${metricsOrigin()}/graphql`)).status).toBe(404);
  });

  it('has the process runtime, route, operation and per-service upstream series, with bounded labels', async () => {
    for (let round = 0; round < 5; round++) await mixedLoad(round);
    const first = (await get(`${metricsOrigin()}/metrics`)).text;
    for (let round = 5; round < 25; round++) await mixedLoad(round);
    const metrics = (await get(`${metricsOrigin()}/metrics`)).text;

    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_gc_duration_seconds',
      'gateway_http_request_duration_seconds',
      'gateway_graphql_operation_duration_seconds',
      'gateway_upstream_request_duration_seconds',
    ]) {
      expect(metrics).toContain(`# TYPE ${name} `);
    }
    const routes = labelValues(metrics, 'gateway_http_request_duration_seconds', 'route');
    expect([...routes].sort()).toEqual([
      '(unmatched)',
      '/exports/{taskId}/file',
      '/graphql',
      '/healthz',
      '/metrics',
    ]);
    expect(labelValues(metrics, 'gateway_graphql_operation_duration_seconds', 'operation')).toEqual(
      new Set(['query', 'mutation']),
    );
    const services = labelValues(metrics, 'gateway_upstream_request_duration_seconds', 'service');
    expect([...services].sort()).toEqual(['deployment', 'export', 'security', 'task']);

    // Twenty more rounds of fresh ids and paths add no series: the label sets were complete after five.
    const series = (text: string) => text.split('\n').filter((line) => line.startsWith('gateway_')).length;
    expect(series(metrics)).toBe(series(first));
    // Nothing a client sent is a label value: no token, no task id, no path.
    expect(metrics).not.toContain(stack.token);
    expect(metrics).not.toMatch(/no\/such|[0-9a-f]{8}-[0-9a-f]{4}-/);
  });
});
