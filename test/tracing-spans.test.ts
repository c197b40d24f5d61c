/**
 * OpenTelemetry tracing (OTLP http/json) into an in-process receiver: the HTTP request span continues the client's
 * W3C trace, the operation span is its child, and each upstream EPMware call is one CLIENT span under that, with
 * method, endpoint template, status, retry count and budget wait; no token, query text or variables anywhere.
 */
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { flushTracing, startTracing, tracingEnabled } from '../src/observability/tracing.ts';
import { type Stack, startStack } from './harness.ts';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './otlp-receiver.ts';

const SERVER = 2;
const CLIENT = 3;

let receiver: OtlpReceiver;
let stack: Stack;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
  // The SDK reads the standard variables itself; this file runs in its own process (vitest forks).
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
  process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
  process.env.OTEL_SERVICE_NAME = 'gateway-under-test';
  await startTracing();
  stack = await startStack({ env: { CACHE_TTL_MS: '0' } });
});
afterAll(async () => {
  await stack.close();
  await receiver.close();
});
beforeEach(() => {
  stack.sim.clearFaults();
  stack.sim.clearRequests();
});

const traceId = () => Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
const CLIENT_SPAN_ID = 'b7ad6b7169203331';

/** Posts a query as a traced client would, and returns the spans of that trace once exported. */
async function tracedQuery(query: string, variables?: Record<string, unknown>) {
  const trace = traceId();
  const answer = await stack.graphql(query, variables, {
    headers: { traceparent: `00-${trace}-${CLIENT_SPAN_ID}-01` },
  });
  await flushTracing();
  return { answer, trace, spans: receiver.spans().filter((span) => span.traceId === trace) };
}

function only(spans: ReceivedSpan[], predicate: (span: ReceivedSpan) => boolean): ReceivedSpan {
  const found = spans.filter(predicate);
  expect(found).toHaveLength(1);
  return found[0] as ReceivedSpan;
}

describe('tracing', () => {
  it('is on: OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
    expect(tracingEnabled()).toBe(true);
  });

  it('nests request > operation > one client span per upstream call, in the client trace', async () => {
    const { answer, trace, spans } = await tracedQuery(
      `query Dashboard($names: [String!]!) {
        users(first: 2) { nodes { userName groups { name } } }
        deployments(names: $names) { name stats { runs } executions { executionId } } }`,
      { names: ['ASOALL', 'PLANNING_DEV'] },
    );
    expect(answer.errors).toBeUndefined();
    const upstream = stack.sim.requests({ path: '/service/api/*' });
    // users, the membership map, and one history per deployment (stats and executions share it).
    expect(upstream).toHaveLength(4);

    const http = only(spans, (span) => span.kind === SERVER);
    expect(http).toMatchObject({ name: 'POST /graphql', parentSpanId: CLIENT_SPAN_ID, traceId: trace });
    expect(http.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.response.status_code': 200,
    });

    const operation = only(spans, (span) => span.parentSpanId === http.spanId);
    expect(operation.name).toBe('query Dashboard');
    expect(operation.attributes).toEqual({
      'graphql.operation.type': 'query',
      'graphql.operation.name': 'Dashboard',
    });

    const clients = spans.filter((span) => span.kind === CLIENT);
    expect(clients).toHaveLength(upstream.length);
    for (const span of clients) {
      expect(span.parentSpanId).toBe(operation.spanId);
      expect(span.attributes).toMatchObject({
        'http.request.method': 'GET',
        'http.response.status_code': 200,
        'epmware.retry_count': 0,
      });
      expect(span.attributes['epmware.budget_wait_ms']).toBeGreaterThanOrEqual(0);
      expect(span.name).toBe(`GET ${span.attributes['epmware.endpoint']}`);
    }
    const endpoints = clients.map((span) => span.attributes['epmware.endpoint']).sort();
    expect(endpoints).toEqual(upstream.map((call) => call.path.replace('/service/api/', '')).sort());
    expect(spans).toHaveLength(2 + upstream.length);
  });

  it('counts retries on the one span of a retried call, and marks a failed call with its code', async () => {
    stack.sim.injectFault({ path: '/service/api/deployment/get_execution_details', status: 503, times: 1 });
    const { spans } = await tracedQuery(`{ deployment(name: "ASOALL") { stats { runs } } }`);
    expect(stack.sim.requests({ path: '/service/api/*' })).toHaveLength(2);
    const retried = only(spans, (span) => span.kind === CLIENT);
    expect(retried.attributes).toMatchObject({
      'epmware.endpoint': 'deployment/get_execution_details',
      'epmware.retry_count': 1,
      'http.response.status_code': 200,
    });

    const missing = await tracedQuery(`{ deployment(name: "NO_SUCH_DEPLOYMENT") { stats { runs } } }`);
    const failed = only(missing.spans, (span) => span.kind === CLIENT);
    expect(failed.attributes).toMatchObject({ 'http.response.status_code': 404, 'error.type': 'NOT_FOUND' });
    expect(failed.status?.code).toBe(2);
  });

  it('makes one client span for a history that several fields share (one request, one span)', async () => {
    // Two aliases of the same history in one operation share one upstream call, so one span.
    const { spans } = await tracedQuery(
      `{ a: deployment(name: "ASOALL") { stats { runs } } b: deployment(name: "ASOALL") { executions { id } } }`,
    );
    expect(stack.sim.requests({ path: '/service/api/*' })).toHaveLength(1);
    expect(spans.filter((span) => span.kind === CLIENT)).toHaveLength(1);
  });

  it('never exports a token, the query text or variables', async () => {
    const marker = `zz${traceId().slice(0, 10)}`;
    const trace = traceId();
    // A GET carries the document and variables in its URL; the span keeps the path only.
    const url = new URL(stack.url);
    url.searchParams.set(
      'query',
      `query ${marker}Op($n: String!) { ${marker}: deployment(name: $n) { stats { runs } } }`,
    );
    url.searchParams.set('variables', JSON.stringify({ n: `${marker}_NAME` }));
    const get = await request(url, {
      headers: { authorization: `Token ${stack.token}`, traceparent: `00-${trace}-${CLIENT_SPAN_ID}-01` },
    });
    expect(get.statusCode).toBe(200);
    await get.body.dump();
    await stack.graphql(`mutation { runDeployment(name: "PROD_DAILY") { taskId } }`, undefined, {
      headers: { traceparent: `00-${traceId()}-${CLIENT_SPAN_ID}-01` },
    });
    await flushTracing();
    const spans = receiver.spans().filter((span) => span.traceId === trace);
    expect(spans.some((span) => span.kind === CLIENT)).toBe(true);
    const everything = receiver.exports.map((received) => received.body.toString('utf8')).join('\n');
    expect(everything).toContain('deployment/get_execution_details');
    expect(everything).toContain('deployment/run');
    expect(everything).not.toContain(stack.token);
    expect(everything).not.toContain(stack.sim.tokens.secondary);
    expect(everything).not.toContain(`${marker}_NAME`);
    expect(everything).not.toContain('stats { runs }');
    // The operation's own name (a label the client chose) is kept; the field alias from the text is not.
    expect(everything).toContain(`${marker}Op`);
    expect(everything.split(marker).length - 1).toBe(everything.split(`${marker}Op`).length - 1);
    expect(everything).not.toMatch(/authorization/i);
  });

  it('records the budget wait of a call that waited for its slot', async () => {
    const limited = await startStack({
      env: { CACHE_TTL_MS: '0', UPSTREAM_RATE_LIMIT_PER_MIN: '1' },
      upstream: { budgetWindowMs: 1_000 },
    });
    try {
      const trace = traceId();
      // Two histories at once with one slot a second: the second waits for the first's slot to come back.
      const answer = await limited.graphql(
        `{ deployments(names: ["ASOALL", "PLANNING_DEV"]) { stats { runs } } }`,
        undefined,
        { headers: { traceparent: `00-${trace}-${CLIENT_SPAN_ID}-01` } },
      );
      expect(answer.errors).toBeUndefined();
      await flushTracing();
      const clients = receiver.spans().filter((span) => span.traceId === trace && span.kind === CLIENT);
      expect(clients).toHaveLength(2);
      const waits = clients
        .map((span) => Number(span.attributes['epmware.budget_wait_ms']))
        .sort((a, b) => a - b);
      // The slot returns a whole window (1 s) after the first answer: a lower bound, which load only raises.
      expect(waits[1]).toBeGreaterThanOrEqual(900);
      expect(waits[0]).toBeLessThan(waits[1] as number);
    } finally {
      await limited.close();
    }
  });
});
