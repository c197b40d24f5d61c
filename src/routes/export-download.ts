/**
 * GET /exports/{taskId}/file: an export task's file, streamed from EPMware to the client chunk by chunk (never
 * held whole) with EPMware's Content-Type and Content-Length. The token is taken as /graphql takes it (a malformed
 * Authorization is 401, never EPMWARE_TOKEN); failures answer a JSON `{code, message}` with the contract's code and
 * a matching HTTP status.
 *
 * The file is served on the gateway's own origin (GraphiQL's), whatever EPMware says it is: always as an attachment
 * with a file name reduced to safe characters, `nosniff`, and a sandboxing CSP, so an HTML file can never run as a
 * page here. EPMware answers the same 404 for an unknown task and for an export still running; on a 404 the gateway
 * asks the task's status to tell them apart (409 CONFLICT while it runs).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { createContext, type RequestInfo, type Services } from '../context.ts';
import { type ErrorCode, findGatewayError, GatewayError, UpstreamError, unauthenticated } from '../errors.ts';
import type { Epmware } from '../upstream/epmware.ts';
import { sendJson } from './respond.ts';

export const EXPORT_FILE_ROUTE = /^\/exports\/([^/]+)\/file$/;
/** The route as a template (its span's name and `http.route`): the task id is left out. */
export const EXPORT_FILE_ROUTE_TEMPLATE = '/exports/{taskId}/file';

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  GONE: 410,
  RATE_LIMITED: 429,
  UPSTREAM_ERROR: 502,
  UPSTREAM_UNAVAILABLE: 503,
  UPSTREAM_TIMEOUT: 504,
};

/** EPMware's headers that describe the file, passed on as they came (the file name is rebuilt, see below). */
const FILE_HEADERS = ['content-type', 'content-length', 'last-modified', 'etag'];
/** A file name longer than this is cut: browsers and file systems have limits of their own. */
const MAX_FILE_NAME = 120;

export async function handleExportDownload(
  rawTaskId: string,
  req: IncomingMessage,
  res: ServerResponse,
  services: Services,
  requestId: string,
  info: RequestInfo,
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
  let epmware: Epmware;
  try {
    epmware = createContext(services, info, requestId).epmware();
  } catch (error) {
    sendUnauthenticated(res, error instanceof GatewayError ? error : unauthenticated());
    return;
  }

  // The client going away stops the upstream download too, whether it is still starting or mid-file.
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  let upstream: Awaited<ReturnType<Epmware['downloadExportFile']>>;
  try {
    upstream = await epmware.downloadExportFile(taskId, abort.signal);
    // From here on the body has a listener for its failure (EPMware breaking off, the client's abort destroying
    // it) whatever comes between now and the pipe below; the pipe reports it too.
    upstream.body.on('error', ignore);
  } catch (error) {
    if (abort.signal.aborted) return;
    const failure = isNotFound(error) ? await whyNotFound(epmware, taskId, error, abort.signal) : error;
    if (!abort.signal.aborted) sendFailure(res, failure, taskId);
    return;
  }

  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    'content-disposition': `attachment; filename="${safeFileName(upstream.headers['content-disposition'], taskId)}"`,
    // The file is one tenant's data: no shared cache may keep it, no browser may guess another type for it, and
    // whatever its type, it never runs as a page of this origin (no script, no plugin, no same-origin access).
    'cache-control': 'private, no-store',
    'x-content-type-options': 'nosniff',
    'content-security-policy': "sandbox; default-src 'none'",
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

function sendUnauthenticated(res: ServerResponse, error: GatewayError): void {
  res.setHeader('www-authenticate', 'Token');
  sendJson(res, 401, { code: 'UNAUTHENTICATED', message: error.message });
}

function isNotFound(error: unknown): boolean {
  return findGatewayError(error)?.code === 'NOT_FOUND';
}

/**
 * EPMware's download answers "File not found" alike for an unknown task, a running export and a failed one; the
 * task's status tells them apart (one more request, only on this error path). If that lookup fails too, the 404
 * stands and says the task may still be running.
 */
async function whyNotFound(
  epmware: Epmware,
  taskId: string,
  notFound: unknown,
  signal: AbortSignal,
): Promise<unknown> {
  let status: Awaited<ReturnType<Epmware['taskStatus']>>;
  try {
    status = await epmware.taskStatus(taskId);
  } catch (error) {
    if (signal.aborted || isNotFound(error))
      return new GatewayError('NOT_FOUND', `No task ${taskId}: EPMware does not know it`);
    return new GatewayError(
      'NOT_FOUND',
      `No file for task ${taskId} (yet): the export may still be running; try again once it has SUCCEEDED`,
    );
  }
  if (status.status === 'S') return notFound;
  if (status.status === 'E')
    return new GatewayError('NOT_FOUND', `Task ${taskId} failed, so it has no file to download`);
  return new GatewayError(
    'CONFLICT',
    `The export of task ${taskId} has not finished (${status.percentCompleted ?? 0}% done): ` +
      'download it once its state is SUCCEEDED',
  );
}

/**
 * The file name EPMware gave (its `filename` parameter), reduced to letters, digits, `.`, `-`, `_` and spaces,
 * without any path, leading dots or quotes that could break out of the header parameter; else `<taskId>.export`.
 */
export function safeFileName(disposition: string | string[] | undefined, taskId: string): string {
  const header = Array.isArray(disposition) ? disposition[0] : disposition;
  const raw = /filename\s*=\s*(?:"([^"]*)"|([^;]*))/i.exec(header ?? '');
  const given = (raw?.[1] ?? raw?.[2] ?? '').trim();
  const base = given.split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .replace(/[^\w. -]/g, '_')
    .replace(/^[. ]+/, '')
    .slice(0, MAX_FILE_NAME)
    .trim();
  if (cleaned !== '' && /[A-Za-z0-9]/.test(cleaned)) return cleaned;
  return `${
    taskId
      .replace(/[^\w.-]/g, '_')
      .replace(/^\.+/, '')
      .slice(0, MAX_FILE_NAME) || 'export'
  }.export`;
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

function ignore(): void {}
