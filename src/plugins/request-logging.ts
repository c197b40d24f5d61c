/**
 * Request ids and request logs. Every HTTP exchange gets one access-log line (id, method, path, status, duration);
 * every GraphQL operation a debug line, or an info line listing its error codes when it had errors. Headers, query
 * strings, variables and error messages are never logged: that is where tokens and personal data travel.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';
import { findGatewayError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { operationKind } from './operation-kind.ts';

export const REQUEST_ID_HEADER = 'x-request-id';

/** A caller's (or a proxy's) id is kept when it looks like an id, so one id follows a request across systems. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

export function requestIdFrom(header: string | string[] | undefined): string {
  const incoming = Array.isArray(header) ? header[0] : header;
  return incoming && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** Probes are polled every few seconds: logging them at info would drown everything else. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export function logHttpExchange(
  logger: Logger,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  observe?: (status: number, seconds: number) => void,
): void {
  const started = performance.now();
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  res.once('close', () => {
    const elapsed = performance.now() - started;
    observe?.(res.statusCode, elapsed / 1000);
    const line = {
      requestId,
      method: req.method,
      path,
      status: res.statusCode,
      durationMs: Math.round(elapsed),
      ...(res.writableFinished ? {} : { aborted: true }),
    };
    if (res.statusCode >= 500) logger.warn(line, 'request failed');
    else if (QUIET_PATHS.has(path)) logger.debug(line, 'request');
    else logger.info(line, 'request');
  });
}

function errorCodes(result: ExecutionResult | AsyncIterable<unknown>): string[] {
  if (isAsyncIterable(result)) return [];
  // Seen before masking: a resolver's error is still the GatewayError it threw; anything else will be masked.
  return (result.errors ?? []).map(
    (error) => findGatewayError(error)?.code ?? String(error.extensions?.code ?? 'INTERNAL_SERVER_ERROR'),
  );
}

export function operationLoggingPlugin(logger: Logger): Plugin<Context> {
  return {
    onExecute({ args }) {
      const started = performance.now();
      const { requestId } = args.contextValue;
      const operation = operationKind(args.document, args.operationName);
      // Client-chosen, so trimmed; logged (never a metric label) because it is how people find their request.
      const operationName = args.operationName?.slice(0, 100);
      return {
        onExecuteDone({ result }) {
          const codes = errorCodes(result);
          const line = {
            requestId,
            operation,
            operationName,
            durationMs: Math.round(performance.now() - started),
            ...(codes.length ? { errorCodes: codes } : {}),
          };
          if (codes.length) logger.info(line, 'graphql operation had errors');
          else logger.debug(line, 'graphql operation');
        },
      };
    },
    onSubscribe({ args }) {
      const { requestId } = args.contextValue;
      logger.debug(
        { requestId, operation: 'subscription', operationName: args.operationName?.slice(0, 100) },
        'graphql subscription',
      );
    },
  };
}
