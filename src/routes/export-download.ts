/**
 * GET /exports/{taskId}/file: an export task's file, streamed from EPMware to the client chunk by chunk (never
 * held whole) with EPMware's Content-Type, Content-Disposition and Content-Length. The token is taken as /graphql
 * takes it; failures answer a JSON `{code, message}` with the contract's code and a matching HTTP status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Services } from '../context.ts';
import { type ErrorCode, findGatewayError, UpstreamError, unauthenticated } from '../errors.ts';
import { resolveCredential } from '../upstream/credential.ts';
import { Epmware } from '../upstream/epmware.ts';
import { sendJson } from './respond.ts';

export const EXPORT_FILE_ROUTE = /^\/exports\/([^/]+)\/file$/;

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  GONE: 410,
  RATE_LIMITED: 429,
  UPSTREAM_ERROR: 502,
  UPSTREAM_UNAVAILABLE: 503,
  UPSTREAM_TIMEOUT: 504,
};

/** EPMware's headers that describe the file, passed on as they came. */
const FILE_HEADERS = ['content-type', 'content-disposition', 'content-length', 'last-modified', 'etag'];

export async function handleExportDownload(
  rawTaskId: string,
  req: IncomingMessage,
  res: ServerResponse,
  services: Services,
): Promise<void> {
  const { config } = services;
  allowCors(req, res, config.corsOrigins);
  if (req.method === 'OPTIONS') {
    res.writeHead(204, { allow: 'GET, OPTIONS' });
    res.end();
    return;
  }
  if (req.method !== 'GET') {
    res.setHeader('allow', 'GET, OPTIONS');
    sendJson(res, 405, { code: 'BAD_USER_INPUT', message: `${req.method} is not allowed here: use GET` });
    return;
  }
  let taskId: string;
  try {
    taskId = decodeURIComponent(rawTaskId);
  } catch {
    sendJson(res, 400, {
      code: 'BAD_USER_INPUT',
      message: 'The task id in the path is not valid percent-encoding',
    });
    return;
  }
  const credential = resolveCredential(req.headers.authorization, config.epmwareToken);
  if (!credential) {
    const error = unauthenticated();
    res.setHeader('www-authenticate', 'Token');
    sendJson(res, 401, { code: error.code, message: error.message });
    return;
  }

  // The client going away stops the upstream download too, whether it is still starting or mid-file.
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  let upstream: Awaited<ReturnType<Epmware['downloadExportFile']>>;
  try {
    upstream = await new Epmware(services.upstream, credential).downloadExportFile(taskId, abort.signal);
  } catch (error) {
    if (!abort.signal.aborted) sendFailure(res, error, taskId);
    return;
  }

  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    'content-disposition': `attachment; filename="${taskId.replace(/[^\w.-]/g, '_')}.export"`,
    // The file is one tenant's data: no shared cache may keep it, no browser may guess another type for it.
    'cache-control': 'private, no-store',
    'x-content-type-options': 'nosniff',
  };
  for (const name of FILE_HEADERS) {
    const value = upstream.headers[name];
    const single = Array.isArray(value) ? value[0] : value;
    if (single) headers[name] = single.replace(/[\r\n]/g, '');
  }
  res.writeHead(200, headers);
  try {
    await pipeline(upstream.body, res);
  } catch {
    // The client left, or EPMware broke off mid-file: pipeline has closed both ends, and a response cut short
    // (short of its Content-Length, or without the final chunk) is how HTTP says the file is incomplete.
  }
}

function sendFailure(res: ServerResponse, error: unknown, taskId: string): void {
  const known = findGatewayError(error);
  if (!known) {
    sendJson(res, 502, {
      code: 'UPSTREAM_ERROR',
      message: `The export file of task ${taskId} could not be fetched`,
    });
    return;
  }
  if (known instanceof UpstreamError && known.retryAfterMs !== undefined) {
    res.setHeader('retry-after', String(Math.ceil(known.retryAfterMs / 1000)));
  }
  sendJson(res, STATUS_BY_CODE[known.code] ?? 502, { code: known.code, message: known.message });
}

/** The same origins /graphql allows (CORS_ORIGINS) may fetch the file, and read its file name. */
function allowCors(req: IncomingMessage, res: ServerResponse, allowedOrigins: readonly string[]): void {
  const origin = req.headers.origin;
  res.setHeader('vary', 'Origin');
  if (!origin || !allowedOrigins.includes(origin)) return;
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('access-control-expose-headers', 'content-disposition, content-length, x-request-id');
  if (req.method === 'OPTIONS') {
    res.setHeader('access-control-allow-methods', 'GET, OPTIONS');
    res.setHeader('access-control-allow-headers', 'authorization');
    res.setHeader('access-control-max-age', '600');
  }
}
