/**
 * How the feed answers: every answer carries `OData-Version: 4.0`; data carries `Cache-Control: private,
 * no-store` (one token's data); errors are OData's JSON error body `{"error": {"code", "message"}}` with the
 * contract's code and the status it implies (501 for what the feed does not implement), and a 401 carries the
 * Basic challenge so BI tools prompt for credentials.
 */
import type { ServerResponse } from 'node:http';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { BASIC_CHALLENGE, statusOf } from '../routes/status.ts';
import { MethodNotAllowed, NotImplemented } from './refusals.ts';

export const ODATA_JSON = 'application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8';

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string | string[]> = {},
): void {
  res.writeHead(status, {
    'odata-version': '4.0',
    'content-type': contentType,
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

export function sendJson(
  res: ServerResponse,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  send(res, 200, ODATA_JSON, JSON.stringify(body), headers);
}

export function sendText(
  res: ServerResponse,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  send(res, 200, contentType, body, headers);
}

/** Data fetched with a credential: never kept by a shared cache. */
export const PRIVATE = { 'cache-control': 'private, no-store' } as const;

export function sendError(res: ServerResponse, error: unknown, logger: Logger): void {
  if (res.headersSent || res.destroyed) return;
  if (!(error instanceof GatewayError)) {
    logger.error({ err: error }, 'odata request failed');
    send(res, 500, ODATA_JSON, errorBody('INTERNAL_SERVER_ERROR', 'Unexpected error.'));
    return;
  }
  const status =
    error instanceof NotImplemented || error instanceof MethodNotAllowed
      ? error.status
      : statusOf(error.code);
  if (error instanceof MethodNotAllowed) res.setHeader('allow', 'GET, HEAD');
  const headers: Record<string, string | string[]> =
    error.code === 'UNAUTHENTICATED' ? { 'www-authenticate': BASIC_CHALLENGE } : {};
  send(res, status, ODATA_JSON, errorBody(error.code, error.message), headers);
}

export function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}
