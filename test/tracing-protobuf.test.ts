/**
 * OTLP http/protobuf (the OpenTelemetry default protocol) into an in-process receiver: the exports arrive as
 * protobuf at /v1/traces with the request, operation and upstream spans, and never the token or the query text.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushTracing, startTracing } from '../src/observability/tracing.ts';
import { type Stack, startStack } from './harness.ts';
import { type OtlpReceiver, startOtlpReceiver } from './otlp-receiver.ts';

let receiver: OtlpReceiver;
let stack: Stack;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
  // This file runs in its own process (vitest forks): the SDK reads these when it starts.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
  process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/protobuf';
  await startTracing();
  stack = await startStack({ env: { CACHE_TTL_MS: '0' } });
});
afterAll(async () => {
  await stack.close();
  await receiver.close();
});

describe('tracing over http/protobuf', () => {
  it('exports the request, operation and upstream spans, and no token or query text', async () => {
    const answer = await stack.graphql('query TracedUsers { users { totalCount } }');
    expect(answer.errors).toBeUndefined();
    await flushTracing();
    const protobuf = receiver.exports.filter((e) => e.contentType === 'application/x-protobuf');
    expect(protobuf.length).toBeGreaterThan(0);
    expect(protobuf.every((e) => e.path === '/v1/traces')).toBe(true);
    // Protobuf keeps strings as UTF-8 bytes: the span names can be found, and the token must not be.
    const bytes = Buffer.concat(protobuf.map((e) => e.body));
    for (const text of [
      'POST /graphql',
      'query TracedUsers',
      'GET /security/users',
      'epmware.budget_wait_ms',
    ]) {
      expect(bytes.includes(text), text).toBe(true);
    }
    expect(bytes.includes(stack.token)).toBe(false);
    expect(bytes.includes('totalCount')).toBe(false);
  });
});
