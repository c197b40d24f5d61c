/**
 * Tracing's switch: off (nothing registered, no plugin) without OTEL_EXPORTER_OTLP_ENDPOINT, and bad OTEL_* values
 * stopping the process at start-up with one line, like every other variable.
 */
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { tracingEnabled, tracingPlugins } from '../src/observability/tracing.ts';
import { runUntilExit } from './gateway-process.ts';
import { startStack } from './harness.ts';
import { wsClient } from './subscription-clients.ts';

describe('tracing off', () => {
  it('registers nothing with OpenTelemetry and adds no plugin when no endpoint is set', async () => {
    expect(process.env.OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    const stack = await startStack();
    try {
      const answer = await stack.graphql('{ users { totalCount } }');
      expect(answer.errors).toBeUndefined();
      // The entry points outside Yoga's HTTP handler take their untraced path too.
      const client = wsClient(stack);
      try {
        for await (const result of client.iterate({ query: '{ users { totalCount } }' })) {
          expect(result.errors).toBeUndefined();
        }
      } finally {
        await client.dispose();
      }
      const download = await request(`${stack.origin}/exports/${stack.sim.fixtures.exportTaskId}/file`, {
        headers: { authorization: `Token ${stack.token}` },
      });
      expect(download.statusCode).toBe(200);
      await download.body.dump();
      expect(tracingEnabled()).toBe(false);
      expect(tracingPlugins()).toEqual([]);
      // The OpenTelemetry API keeps its registrations (tracer provider, context manager) under this global.
      expect(
        Object.getOwnPropertySymbols(globalThis)
          .map(String)
          .filter((s) => s.includes('opentelemetry')),
      ).toEqual([]);
    } finally {
      await stack.close();
    }
  });
});

describe('tracing configuration', () => {
  it('refuses a bad endpoint or an unsupported protocol with one line naming the variable', async () => {
    const cases: Array<[string, Record<string, string>]> = [
      ['OTEL_EXPORTER_OTLP_ENDPOINT', { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }],
      [
        'OTEL_EXPORTER_OTLP_PROTOCOL',
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      ],
    ];
    for (const [variable, env] of cases) {
      const exit = await runUntilExit(env);
      expect(exit.code, variable).toBe(2);
      const lines = exit.stderr.trim().split('\n');
      expect(lines, exit.stderr).toHaveLength(1);
      expect(lines[0]).toContain(variable);
    }
  });
});
