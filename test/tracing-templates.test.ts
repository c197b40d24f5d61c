/**
 * Spans carry route and path templates, never the ids and names in a path: the download route's span is
 * `/exports/{taskId}/file` (url.path too), and an upstream call's span is `GET /task/get_status/{taskId}` or
 * `PATCH /security/users/sso/enable/{userName}`, with that template as url.template. The task id and the user's
 * e-mail appear nowhere in what is exported.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushTracing, startTracing } from '../src/observability/tracing.ts';
import { type Stack, startStack } from './harness.ts';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './otlp-receiver.ts';
import { waitFor } from './subscription-clients.ts';

const CLIENT = 3;
const SERVER = 2;

let receiver: OtlpReceiver;
let stack: Stack;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
  // The SDK reads the standard variables itself; this file runs in its own process (vitest forks).
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
  process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
  await startTracing();
  stack = await startStack({ env: { CACHE_TTL_MS: '0' }, logStream: { write: () => {} } });
});
afterAll(async () => {
  await stack.close();
  await receiver.close();
});

const traceId = () => Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
const traceparent = (trace: string) => `00-${trace}-b7ad6b7169203331-01`;

async function spansOf(trace: string, count: number): Promise<ReceivedSpan[]> {
  let spans: ReceivedSpan[] = [];
  await waitFor(async () => {
    await flushTracing();
    spans = receiver.spans().filter((span) => span.traceId === trace);
    return spans.length >= count;
  });
  return spans;
}

function exported(): string {
  return receiver.exports.map((received) => received.body.toString('utf8')).join('\n');
}

describe('templates, not values', () => {
  it('the download route: span name, url.path and http.route are /exports/{taskId}/file; its call is a template too', async () => {
    const taskId = stack.sim.fixtures.exportTaskId;
    const trace = traceId();
    const response = await request(`${stack.origin}/exports/${taskId}/file`, {
      headers: { authorization: `Token ${stack.token}`, traceparent: traceparent(trace) },
    });
    await response.body.dump();
    expect(response.statusCode).toBe(200);
    const spans = await spansOf(trace, 2);
    const entry = spans.find((span) => span.kind === SERVER);
    expect(entry?.name).toBe('GET /exports/{taskId}/file');
    expect(entry?.attributes).toMatchObject({
      'url.path': '/exports/{taskId}/file',
      'http.route': '/exports/{taskId}/file',
    });
    const client = spans.find((span) => span.kind === CLIENT);
    expect(client?.name).toBe('GET /export/download_file/{taskId}');
    expect(client?.attributes['url.template']).toBe('/export/download_file/{taskId}');
    for (const span of spans) expect(JSON.stringify(span)).not.toContain(taskId);
  });

  it("a task's status and a user's e-mail in upstream paths become {taskId} and {userName}", async () => {
    const taskId = stack.sim.fixtures.succeededTaskId;
    const userName = stack.sim.state().users()[0]?.userName ?? '';
    expect(userName).not.toBe('');
    const trace = traceId();
    const answer = await stack.graphql(
      'mutation ($u: String!) { enableUser(userName: $u) { userName } }',
      { u: userName },
      { headers: { traceparent: traceparent(trace) } },
    );
    expect(answer.errors).toBeUndefined();
    const other = traceId();
    const task = await stack.graphql(
      'query ($t: ID!) { task(taskId: $t) { state } }',
      { t: taskId },
      {
        headers: { traceparent: traceparent(other) },
      },
    );
    expect(task.errors).toBeUndefined();

    const clients = [...(await spansOf(trace, 3)), ...(await spansOf(other, 3))].filter(
      (span) => span.kind === CLIENT,
    );
    const names = clients.map((span) => span.name);
    expect(names).toContain('PATCH /security/users/sso/enable/{userName}');
    expect(names).toContain('GET /task/get_status/{taskId}');
    for (const span of clients) {
      expect(span.attributes['url.template']).toBe(span.name.replace(/^[A-Z]+ /, ''));
    }
    const everything = exported();
    expect(everything).not.toContain(userName);
    expect(everything).not.toContain(encodeURIComponent(userName));
    expect(everything).not.toContain(`/get_status/${taskId}`);
  });
});
