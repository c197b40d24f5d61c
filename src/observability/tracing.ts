/**
 * OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set. Off means free: this module imports no
 * OpenTelemetry code at all, and its hooks are a null check. `startTracing()` loads the SDK (tracing-runtime.ts)
 * only when asked, before the gateway is built.
 *
 * Spans, when on: one SERVER span per HTTP request to /graphql (continuing the client's W3C `traceparent`), one
 * span per GraphQL operation inside it, and one CLIENT span per upstream EPMware call inside that, with its method,
 * path template (`GET /task/get_status/{taskId}`), status, retry count and budget wait. The entry points outside Yoga's HTTP handler get a SERVER
 * span of their own: the export download and reports routes (`traceRoute`) and each WebSocket operation
 * (`startWebSocketOperationSpan`). No span carries a token, a header, a query text, variables, or an id or name
 * from a path: routes and upstream paths appear as templates.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLContext, OperationSpan, TracedCall, TracingRuntime } from './tracing-types.ts';

export type { OperationSpan, TracedCall } from './tracing-types.ts';

let runtime: TracingRuntime | null = null;

/** Starts the OpenTelemetry SDK from the standard OTEL_* variables (once per process). */
export async function startTracing(): Promise<void> {
  if (runtime) return;
  const { startTracingRuntime } = await import('./tracing-runtime.ts');
  runtime ??= startTracingRuntime();
}

export function tracingEnabled(): boolean {
  return runtime !== null;
}

/** Sends what is buffered (tests; shutdown does it too). */
export async function flushTracing(): Promise<void> {
  await runtime?.flush();
}

/** Flushes and stops the SDK: on shutdown, so the last requests' spans are not lost. */
export async function stopTracing(): Promise<void> {
  const stopping = runtime;
  runtime = null;
  await stopping?.shutdown();
}

/** The Yoga plugin making the request and operation spans; none when tracing is off. */
export function tracingPlugins<TContext extends GraphQLContext>(): Plugin<TContext>[] {
  // The plugin keys spans on the context object's identity and reads nothing from it, so it serves any context;
  // typed so here, observability/ never imports the gateway's Context (which would make an import cycle).
  return runtime ? [runtime.plugin as Plugin<TContext>] : [];
}

/**
 * Runs the handler of a route outside Yoga (`/exports/{taskId}/file`, `/reports/{documentId}.csv`) inside a SERVER
 * span named after the route template, continuing the client's `traceparent`; the span ends when the response does.
 */
export function traceRoute(
  route: string,
  req: IncomingMessage,
  res: ServerResponse,
  handle: () => Promise<void>,
): Promise<void> {
  return runtime ? runtime.route(route, req, res, handle) : handle();
}

/**
 * Starts the span of a WebSocket operation, continuing a W3C `traceparent` the client put in the subscribe
 * message's `extensions` (a WebSocket message has no headers); undefined when tracing is off.
 */
export function startWebSocketOperationSpan(extensions: unknown): OperationSpan | undefined {
  return runtime?.webSocketOperation(extensions);
}

/** Runs one upstream call (all its attempts) inside a CLIENT span when tracing is on. */
export function traceUpstreamCall<T extends { statusCode: number }>(
  call: TracedCall,
  run: () => Promise<T>,
): Promise<T> {
  return runtime ? runtime.upstreamCall(call, run) : run();
}

/** An attempt of the current upstream call begins (its budget wait starts now); `retries` before it. */
export function upstreamAttemptStarted(retries: number): void {
  runtime?.attemptStarted(retries);
}

/** The current attempt got its budget slot and goes out now. */
export function upstreamRequestSent(): void {
  runtime?.requestSent();
}
