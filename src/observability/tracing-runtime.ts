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

import type { IncomingMessage, ServerResponse } from 'node:http';
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

import {
  type GraphQLContext,
  type OperationSpan,
  type TracedCall,
  type TracingRuntime,
  upstreamPathTemplate,
} from './tracing-types.ts';

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

/** A WebSocket subscribe message's `extensions` as a carrier: its string values only, whatever the client sent. */
const extensionsGetter: TextMapGetter<unknown> = {
  keys: (carrier) => (isRecord(carrier) ? Object.keys(carrier) : []),
  get: (carrier, key) => {
    const value = isRecord(carrier) ? carrier[key] : undefined;
    return typeof value === 'string' ? value : undefined;
  },
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The contract codes whose HTTP answer is a 5xx (the gateway or EPMware at fault): the span's status is ERROR. */
function serverFault(code: string): boolean {
  return code === 'INTERNAL_SERVER_ERROR' || code.startsWith('UPSTREAM_');
}

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

  const plugin: Plugin<GraphQLContext> = {
    instrumentation: {
      request({ request }, wrapped) {
        // A client's request has no span around it; the reports route's own request to Yoga (yoga.fetch) runs
        // inside the route's span, and is an INTERNAL child of it.
        const active = context.active();
        const parent = propagation.extract(active, request.headers, headerGetter);
        // The path only: a GET's query string holds the document and variables.
        const path = new URL(request.url).pathname;
        const span = tracer.startSpan(
          `${request.method} ${path}`,
          {
            kind: trace.getSpan(active) ? SpanKind.INTERNAL : SpanKind.SERVER,
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

  const route = (
    template: string,
    req: IncomingMessage,
    res: ServerResponse,
    handle: () => Promise<void>,
  ): Promise<void> => {
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const method = req.method ?? 'GET';
    // The template, not the path: the path holds a task id (and a query string, a report's variables).
    const span = tracer.startSpan(
      `${method} ${template}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': method, 'url.path': template, 'http.route': template },
      },
      parent,
    );
    // 'close' comes once the response is complete, or cut short (the client left, EPMware broke off mid-file).
    res.once('close', () => {
      if (res.headersSent) {
        span.setAttribute('http.response.status_code', res.statusCode);
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    });
    return context.with(trace.setSpan(parent, span), handle);
  };

  const webSocketOperation = (extensions: unknown): OperationSpan => {
    const parent = propagation.extract(ROOT_CONTEXT, extensions, extensionsGetter);
    const span = tracer.startSpan(
      'graphql.operation',
      {
        kind: SpanKind.SERVER,
        attributes: { 'network.protocol.name': 'websocket', 'url.path': '/graphql' },
      },
      parent,
    );
    let ended = false;
    const end = (errorType?: string) => {
      if (ended) return;
      ended = true;
      if (errorType) {
        span.setAttribute('error.type', errorType);
        if (serverFault(errorType)) span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    };
    const failed = (error: unknown) => {
      const code = (error as { code?: unknown } | null)?.code;
      end(typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR');
    };
    return {
      operation(type, name) {
        span.updateName(name ? `${type} ${name}` : type);
        span.setAttribute('graphql.operation.type', type);
        if (name) span.setAttribute('graphql.operation.name', name);
      },
      run(work) {
        let result: ReturnType<typeof work>;
        try {
          result = context.with(trace.setSpan(parent, span), work);
        } catch (error) {
          failed(error);
          throw error;
        }
        if (result instanceof Promise) {
          result.then(() => end(), failed);
        } else {
          end();
        }
        return result;
      },
      refused: (code) => end(code),
    };
  };

  return {
    plugin,
    route,
    webSocketOperation,
    async upstreamCall<T extends { statusCode: number }>(
      call: TracedCall,
      run: () => Promise<T>,
    ): Promise<T> {
      // Named and described by its path template (OpenTelemetry's `{method} {url.template}`): the path itself holds
      // task ids and user names (e-mails).
      const template = upstreamPathTemplate(call);
      const span = tracer.startSpan(`${call.method} ${template}`, {
        kind: SpanKind.CLIENT,
        attributes: {
          'http.request.method': call.method,
          'url.template': template,
          'epmware.endpoint': call.endpoint,
        },
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
