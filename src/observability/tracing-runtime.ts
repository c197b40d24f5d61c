/**
 * The OpenTelemetry side of tracing.ts, loaded only when OTEL_EXPORTER_OTLP_ENDPOINT is set. The SDK
 * (@opentelemetry/sdk-node) reads the standard OTEL_* variables itself: endpoint, protocol (http/json or
 * http/protobuf), headers, service name, sampler, batch delays; W3C trace context is its default propagator.
 * Traces only: our metrics are Prometheus (/metrics) and our logs pino, so the SDK's OTLP metrics and logs stay off.
 *
 * The HTTP and operation spans come from a small Yoga plugin on Yoga's own instrumentation hooks rather than
 * @envelop/opentelemetry: that plugin records the document text and, on errors, the error messages (which echo
 * argument values) in its spans, and depends on the older 1.x SDK.
 */
import {
  context,
  createContextKey,
  type Context as OtelContext,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';
import type { TracedCall, TracingRuntime } from './tracing.ts';

const SERVICE_NAME = 'epmware-graphql-gateway';

/** The upstream call in progress, kept in the OpenTelemetry context so the client's attempt hooks find it. */
const CURRENT_CALL = createContextKey('epmware.upstream.call');

interface CallRecord {
  span: Span;
  /** When the current attempt started waiting for its budget slot (performance.now()). */
  attemptStartedAt: number;
  /** Whether the current attempt was sent (its wait is then counted). */
  sent: boolean;
  budgetWaitMs: number;
  retries: number;
}

const headerGetter: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};

export function startTracingRuntime(): TracingRuntime {
  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) wins when set; the option would override it.
    serviceName: process.env.OTEL_SERVICE_NAME ? undefined : SERVICE_NAME,
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  const tracer = trace.getTracer(SERVICE_NAME);

  const currentCall = (): CallRecord | undefined =>
    context.active().getValue(CURRENT_CALL) as CallRecord | undefined;
  const closeAttempt = (record: CallRecord) => {
    if (!record.sent) record.budgetWaitMs += performance.now() - record.attemptStartedAt;
    record.sent = true;
  };
  const endCall = (record: CallRecord, status: number | undefined, errorCode: string | undefined) => {
    closeAttempt(record);
    const { span } = record;
    span.setAttribute('epmware.retry_count', record.retries);
    span.setAttribute('epmware.budget_wait_ms', Math.round(record.budgetWaitMs * 1000) / 1000);
    if (status !== undefined) span.setAttribute('http.response.status_code', status);
    if (errorCode) {
      span.setAttribute('error.type', errorCode);
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode });
    }
    span.end();
  };

  const requestSpans = new WeakMap<Request, Span>();
  const operationSpans = new WeakMap<object, Span>();

  const plugin: Plugin<Context> = {
    instrumentation: {
      request({ request }, wrapped) {
        const parent = propagation.extract(ROOT_CONTEXT, request.headers, headerGetter);
        // The path only: a GET's query string holds the document and variables.
        const path = new URL(request.url).pathname;
        const span = tracer.startSpan(
          `${request.method} ${path}`,
          {
            kind: SpanKind.SERVER,
            attributes: { 'http.request.method': request.method, 'url.path': path, 'http.route': path },
          },
          parent,
        );
        requestSpans.set(request, span);
        return context.with(trace.setSpan(parent, span), wrapped);
      },
      operation({ context: graphqlContext }, wrapped) {
        const span = tracer.startSpan('graphql.operation', { kind: SpanKind.INTERNAL });
        operationSpans.set(graphqlContext, span);
        const ended = () => span.end();
        const result = context.with(trace.setSpan(context.active(), span), wrapped);
        if (result instanceof Promise) return result.finally(ended);
        ended();
        return result;
      },
    },
    onExecute({ args }) {
      // The operation's type and the name the client gave it; never the document or its variables.
      const span = operationSpans.get(args.contextValue);
      const operation = getOperationAST(args.document, args.operationName);
      if (!span || !operation) return;
      const name = operation.name?.value;
      span.updateName(name ? `${operation.operation} ${name}` : operation.operation);
      span.setAttribute('graphql.operation.type', operation.operation);
      if (name) span.setAttribute('graphql.operation.name', name);
    },
    onResponse({ request, response }) {
      const span = requestSpans.get(request);
      if (!span) return;
      span.setAttribute('http.response.status_code', response.status);
      if (response.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    },
  };

  return {
    plugin,
    async upstreamCall<T extends { statusCode: number }>(
      call: TracedCall,
      run: () => Promise<T>,
    ): Promise<T> {
      const span = tracer.startSpan(`${call.method} ${call.endpoint}`, {
        kind: SpanKind.CLIENT,
        attributes: { 'http.request.method': call.method, 'epmware.endpoint': call.endpoint },
      });
      const record: CallRecord = {
        span,
        attemptStartedAt: performance.now(),
        sent: false,
        budgetWaitMs: 0,
        retries: 0,
      };
      const callContext: OtelContext = trace.setSpan(context.active(), span).setValue(CURRENT_CALL, record);
      try {
        const response = await context.with(callContext, run);
        endCall(record, response.statusCode, undefined);
        return response;
      } catch (error) {
        const failure = error as { code?: unknown; upstreamStatus?: unknown };
        endCall(
          record,
          typeof failure.upstreamStatus === 'number' ? failure.upstreamStatus : undefined,
          typeof failure.code === 'string' ? failure.code : 'UPSTREAM_ERROR',
        );
        throw error;
      }
    },
    attemptStarted(retries) {
      const record = currentCall();
      if (!record) return;
      closeAttempt(record);
      record.retries = retries;
      record.attemptStartedAt = performance.now();
      record.sent = false;
    },
    requestSent() {
      const record = currentCall();
      if (record) closeAttempt(record);
    },
    async flush() {
      const provider = trace.getTracerProvider() as {
        getDelegate?: () => { forceFlush?: () => Promise<void> };
      };
      await provider.getDelegate?.().forceFlush?.();
    },
    shutdown: () => sdk.shutdown(),
  };
}
