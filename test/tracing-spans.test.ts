/**
 * OpenTelemetry tracing (OTLP http/json) into an in-process receiver: the HTTP request span continues the client's
 * W3C trace, the operation span is its child, and each upstream EPMware call is one CLIENT span under that, with
 * method, endpoint template, status, retry count and budget wait; no token, query text or variables anywhere.
 * The entry points outside Yoga's HTTP handler (a WebSocket operation, the export download, a report) get their
 * own SERVER span, with the upstream calls they make beneath it in its trace.
 */
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { flushTracing, startTracing, tracingEnabled } from '../src/observability/tracing.ts';
import { sha256Hex } from '../src/persisted/manifest.ts';
import { type Stack, startStack } from './harness.ts';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './otlp-receiver.ts';
import { type ManifestFile, writeManifestFile } from './persisted-fixture.ts';
import { waitFor, wsClient } from './subscription-clients.ts';

const INTERNAL = 1;
const SERVER = 2;
const CLIENT = 3;

const REPORT = 'query TracedReport { users(first: 2) { nodes { userName } } }';

let receiver: OtlpReceiver;
let stack: Stack;
let manifest: ManifestFile;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
  // The SDK reads the standard variables itself; this file runs in its own process (vitest forks).
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
  process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
  process.env.OTEL_SERVICE_NAME = 'gateway-under-test';
  await startTracing();
  manifest = writeManifestFile({ [sha256Hex(REPORT)]: REPORT });
  stack = await startStack({ env: { CACHE_TTL_MS: '0', PERSISTED_DOCUMENTS: manifest.path } });
});
afterAll(async () => {
  await stack.close();
  await receiver.close();
  manifest.remove();
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
      // Named by its path template (these paths carry no id, so the template is the path).
      expect(span.name).toBe(`GET /${span.attributes['epmware.endpoint']}`);
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

/** The spans of one trace, flushed until `ready` holds (a route's span ends when its response has closed). */
async function spansOf(trace: string, ready: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> {
  let spans: ReceivedSpan[] = [];
  await waitFor(async () => {
    await flushTracing();
    spans = receiver.spans().filter((span) => span.traceId === trace);
    return ready(spans);
  });
  return spans;
}

/** Whether `span` is below `ancestor`, following parent ids within its trace. */
function descendsFrom(span: ReceivedSpan, ancestor: ReceivedSpan, spans: ReceivedSpan[]): boolean {
  const byId = new Map(spans.map((each) => [each.spanId, each]));
  let parent = span.parentSpanId ? byId.get(span.parentSpanId) : undefined;
  while (parent) {
    if (parent.spanId === ancestor.spanId) return span.traceId === ancestor.traceId;
    parent = parent.parentSpanId ? byId.get(parent.parentSpanId) : undefined;
  }
  return false;
}

/** Runs one operation over a real WebSocket (graphql-ws) with the token in connectionParams; its payloads. */
async function overWebSocket(
  query: string,
  options: { variables?: Record<string, unknown>; extensions?: Record<string, unknown> } = {},
): Promise<Array<{ data?: unknown; errors?: unknown }>> {
  const client = wsClient(stack, { authorization: `Token ${stack.token}` });
  const results: Array<{ data?: unknown; errors?: unknown }> = [];
  try {
    for await (const result of client.iterate({ query, ...options })) results.push(result);
  } finally {
    await client.dispose();
  }
  return results;
}

const webSocketSpans = () =>
  receiver.spans().filter((span) => span.attributes['network.protocol.name'] === 'websocket');

async function download(taskId: string, headers: Record<string, string>) {
  const response = await request(`${stack.origin}/exports/${encodeURIComponent(taskId)}/file`, {
    headers: { authorization: `Token ${stack.token}`, ...headers },
  });
  const body = await response.body.arrayBuffer();
  return { status: response.statusCode, bytes: body.byteLength };
}

describe('tracing the entry points outside /graphql over HTTP', () => {
  it('gives a WebSocket operation a SERVER span, the parent of its upstream calls in its own trace', async () => {
    const before = new Set(webSocketSpans().map((span) => span.spanId));
    const results = await overWebSocket('{ users { totalCount } }');
    expect(results).toHaveLength(1);
    expect(results[0]?.errors).toBeUndefined();
    const upstream = stack.sim.requests({ path: '/service/api/*' });
    expect(upstream.length).toBeGreaterThan(0);

    let entry: ReceivedSpan | undefined;
    await waitFor(async () => {
      await flushTracing();
      entry = webSocketSpans().find((span) => !before.has(span.spanId));
      return entry !== undefined;
    });
    const ws = entry as ReceivedSpan;
    expect(ws).toMatchObject({ name: 'query', kind: SERVER });
    expect(ws.parentSpanId ?? '').toBe('');
    expect(ws.attributes).toEqual({
      'network.protocol.name': 'websocket',
      'url.path': '/graphql',
      'graphql.operation.type': 'query',
    });
    expect(ws.status?.code ?? 0).toBe(0);

    const spans = await spansOf(ws.traceId, (found) => found.length > upstream.length);
    const clients = spans.filter((span) => span.kind === CLIENT);
    expect(clients).toHaveLength(upstream.length);
    for (const span of clients) {
      expect(span.parentSpanId).toBe(ws.spanId);
      expect(descendsFrom(span, ws, spans)).toBe(true);
    }
    expect(spans).toHaveLength(1 + upstream.length);
  });

  it("continues the W3C trace a WebSocket operation's extensions carry, and names the operation", async () => {
    const trace = traceId();
    const results = await overWebSocket('query TracedWs { users { totalCount } }', {
      extensions: { traceparent: `00-${trace}-${CLIENT_SPAN_ID}-01` },
    });
    expect(results[0]?.errors).toBeUndefined();
    const upstream = stack.sim.requests({ path: '/service/api/*' });
    const spans = await spansOf(trace, (found) => found.some((span) => span.kind === SERVER));
    const ws = only(spans, (span) => span.kind === SERVER);
    expect(ws).toMatchObject({ name: 'query TracedWs', parentSpanId: CLIENT_SPAN_ID });
    expect(ws.attributes).toMatchObject({
      'graphql.operation.type': 'query',
      'graphql.operation.name': 'TracedWs',
    });
    const clients = spans.filter((span) => span.kind === CLIENT);
    expect(clients).toHaveLength(upstream.length);
    for (const span of clients) expect(span.parentSpanId).toBe(ws.spanId);
  });

  it('ends the span of a WebSocket operation refused before it runs, with its code', async () => {
    const trace = traceId();
    const results = await overWebSocket('{ noSuchField }', {
      extensions: { traceparent: `00-${trace}-${CLIENT_SPAN_ID}-01` },
    }).catch((error: unknown) => [{ errors: error }]);
    expect(results[0]?.errors).toBeDefined();
    const spans = await spansOf(trace, (found) => found.length > 0);
    const ws = only(spans, (span) => span.kind === SERVER);
    expect(ws.attributes['error.type']).toBe('GRAPHQL_VALIDATION_FAILED');
    // A client's mistake, as a 4xx is: the span's status stays unset.
    expect(ws.status?.code ?? 0).toBe(0);
  });

  it('gives the export download a SERVER span continuing the client trace, the parent of its upstream call', async () => {
    const taskId = stack.sim.fixtures.exportTaskId;
    const trace = traceId();
    const answer = await download(taskId, { traceparent: `00-${trace}-${CLIENT_SPAN_ID}-01` });
    expect(answer.status).toBe(200);
    expect(answer.bytes).toBeGreaterThan(0);
    const upstream = stack.sim.requests({ path: '/service/api/*' });
    expect(upstream).toHaveLength(1);

    const spans = await spansOf(trace, (found) => found.some((span) => span.kind === SERVER));
    const entry = only(spans, (span) => span.kind === SERVER);
    expect(entry).toMatchObject({ name: 'GET /exports/{taskId}/file', parentSpanId: CLIENT_SPAN_ID });
    expect(entry.attributes).toEqual({
      'http.request.method': 'GET',
      // The template, never the task id (tracing-templates.test.ts).
      'url.path': '/exports/{taskId}/file',
      'http.route': '/exports/{taskId}/file',
      'http.response.status_code': 200,
    });
    const client = only(spans, (span) => span.kind === CLIENT);
    expect(client.parentSpanId).toBe(entry.spanId);
    expect(client.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.response.status_code': 200,
    });
    expect(spans).toHaveLength(2);
  });

  it("puts both calls of a download that is not found under the route's span, with its status", async () => {
    const trace = traceId();
    const answer = await download('no-such-task', { traceparent: `00-${trace}-${CLIENT_SPAN_ID}-01` });
    expect(answer.status).toBe(404);
    const spans = await spansOf(trace, (found) => found.some((span) => span.kind === SERVER));
    const entry = only(spans, (span) => span.kind === SERVER);
    expect(entry.attributes['http.response.status_code']).toBe(404);
    expect(entry.status?.code ?? 0).toBe(0);
    const clients = spans.filter((span) => span.kind === CLIENT);
    // The download, then the task's status (to tell an unknown task from a running export).
    expect(clients).toHaveLength(2);
    for (const span of clients) expect(span.parentSpanId).toBe(entry.spanId);
  });

  it("gives a report a SERVER span, with Yoga's request for its query an INTERNAL child", async () => {
    const trace = traceId();
    const response = await request(`${stack.origin}/reports/${sha256Hex(REPORT)}.csv`, {
      headers: { authorization: `Token ${stack.token}`, traceparent: `00-${trace}-${CLIENT_SPAN_ID}-01` },
    });
    expect(response.statusCode).toBe(200);
    await response.body.text();
    const upstream = stack.sim.requests({ path: '/service/api/*' });
    expect(upstream.length).toBeGreaterThan(0);

    const spans = await spansOf(trace, (found) => found.some((span) => span.kind === SERVER));
    const entry = only(spans, (span) => span.kind === SERVER);
    expect(entry).toMatchObject({ name: 'GET /reports/{documentId}.csv', parentSpanId: CLIENT_SPAN_ID });
    expect(entry.attributes).toMatchObject({
      'http.route': '/reports/{documentId}.csv',
      'http.response.status_code': 200,
    });
    const graphql = only(spans, (span) => span.parentSpanId === entry.spanId);
    expect(graphql).toMatchObject({ name: 'POST /graphql', kind: INTERNAL });
    const operation = only(spans, (span) => span.parentSpanId === graphql.spanId);
    expect(operation.name).toBe('query TracedReport');
    const clients = spans.filter((span) => span.kind === CLIENT);
    expect(clients).toHaveLength(upstream.length);
    for (const span of clients) expect(descendsFrom(span, entry, spans)).toBe(true);
  });

  it('never exports the token, connectionParams, variables or query text of these entry points', async () => {
    const marker = `zz${traceId().slice(0, 10)}`;
    const trace = traceId();
    const results = await overWebSocket(
      `query ${marker}Ws($n: String!) { ${marker}: deployment(name: $n) { stats { runs } } }`,
      {
        variables: { n: `${marker}_NAME` },
        extensions: { traceparent: `00-${trace}-${CLIENT_SPAN_ID}-01` },
      },
    );
    expect(results).toHaveLength(1);
    const downloadTrace = traceId();
    expect(
      (
        await download(stack.sim.fixtures.exportTaskId, {
          traceparent: `00-${downloadTrace}-${CLIENT_SPAN_ID}-01`,
        })
      ).status,
    ).toBe(200);
    const reportTrace = traceId();
    const url = new URL(`/reports/${sha256Hex(REPORT)}.ndjson`, stack.origin);
    url.searchParams.set('variables', JSON.stringify({ unused: `${marker}_VAR` }));
    const report = await request(url, {
      headers: {
        authorization: `Token ${stack.token}`,
        traceparent: `00-${reportTrace}-${CLIENT_SPAN_ID}-01`,
      },
    });
    await report.body.text();

    const has = (kind: number) => (found: ReceivedSpan[]) => found.some((span) => span.kind === kind);
    const spans = [
      ...(await spansOf(trace, has(CLIENT))),
      ...(await spansOf(downloadTrace, has(SERVER))),
      ...(await spansOf(reportTrace, has(SERVER))),
    ];
    const entries = spans.filter((span) => span.kind === SERVER);
    expect(entries.map((span) => span.name).sort()).toEqual([
      'GET /exports/{taskId}/file',
      'GET /reports/{documentId}.ndjson',
      `query ${marker}Ws`,
    ]);
    for (const span of spans) {
      for (const [key, value] of Object.entries(span.attributes)) {
        expect(key).not.toMatch(/authorization|token|variables|query/i);
        expect(String(value)).not.toContain(stack.token);
        expect(String(value)).not.toContain(`${marker}_`);
        expect(String(value)).not.toContain('stats { runs }');
      }
    }
    const everything = receiver.exports.map((received) => received.body.toString('utf8')).join('\n');
    expect(everything).not.toContain(stack.token);
    expect(everything).not.toContain(`${marker}_NAME`);
    expect(everything).not.toContain(`${marker}_VAR`);
    expect(everything).not.toContain('stats { runs }');
    expect(everything).not.toMatch(/authorization/i);
  });
});
