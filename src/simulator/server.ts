// The request pipeline for /service/api, in the order upstream applies its checks:
// record -> injected fault -> latency -> outside /service/api/ (404) -> auth (401) -> rate limit (429) -> route (404/405)
// -> service down (503) -> handler.
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Fault, RecordedRequest } from './contract.ts';
import { handleControl } from './control.ts';
import type { RequestBody, RequestContext } from './http.ts';
import { ApiError, readBody, sendError } from './http.ts';
import { rateClassOf } from './rate-limit.ts';
import { matchRoute, SERVICE_DOWN_MESSAGES, UPLOAD_PATH } from './routes.ts';
import type { Simulation } from './simulation.ts';
import { sendTruncated } from './truncation.ts';

const CONTROL_PREFIX = '/__sim';
const API_PREFIX = '/service/api/';

export function createRequestListener(sim: Simulation): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(sim, req, res).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ status: 'E', message: `Internal simulator error: ${message}` }));
      } else {
        res.destroy();
      }
    });
  };
}

async function handle(sim: Simulation, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://simulator.invalid');
  if (url.pathname === CONTROL_PREFIX || url.pathname.startsWith(`${CONTROL_PREFIX}/`)) {
    await handleControl(sim, req, res, url);
    return;
  }

  const entry = sim.log.record(req, url);
  res.once('finish', () => {
    if (entry.status === 0) entry.status = res.statusCode;
  });
  const reply = { res, entry };
  const method = entry.method;
  const path = url.pathname;
  // Uploads are parsed as a stream by their handler; every other body is small JSON, read up front so the
  // log shows it even when a fault or a 401 answers first.
  const body: RequestBody =
    method === 'POST' && path === UPLOAD_PATH ? { kind: 'stream' } : await readBody(req);
  if (body.kind === 'json') entry.body = body.value;
  else if (body.kind === 'invalid') entry.body = body.raw;

  const fault = sim.faults.take(method, path, entry.token, headerBytes(req));
  if (fault && !(await applyFault(sim, req, reply, fault))) return;
  if (sim.config.latencyMs > 0 && !(await sim.lifecycle.sleep(sim.config.latencyMs))) return;

  // The API lives under /service/api: anything else (a base URL with a wrong path, such as /api/v2/service/api/…)
  // is no endpoint at all, token or not. Within it, a missing token is a 401 before any route is looked at.
  if (!path.startsWith(API_PREFIX)) {
    sendError(reply, 404, `Resource not found: ${method} ${path}`);
    return;
  }

  const tenant = entry.token === null ? undefined : sim.tenants.get(entry.token);
  if (!tenant || entry.token === null) {
    sendError(reply, 401, 'Invalid or missing token');
    return;
  }
  const rateClass = rateClassOf(method, path);
  const decision = sim.rateLimiter.check(entry.token, rateClass, sim.now());
  if (!decision.allowed) {
    entry.rateLimited = true;
    sendError(reply, 429, `Rate limit exceeded: ${decision.limit} ${rateClass} requests per minute`, {
      'Retry-After': String(decision.retryAfterSeconds),
    });
    return;
  }

  const match = matchRoute(method, path);
  if (match.kind === 'notFound') {
    sendError(reply, 404, `Resource not found: ${method} ${path}`);
    return;
  }
  if (match.kind === 'badPath') {
    sendError(reply, 400, `Malformed path: ${path}`);
    return;
  }
  if (match.kind === 'methodNotAllowed') {
    sendError(reply, 405, `Method ${method} is not allowed for ${path}`, { Allow: match.allow.join(', ') });
    return;
  }
  if (sim.servicesDown.has(match.route.service)) {
    sendError(reply, 503, SERVICE_DOWN_MESSAGES[match.route.service]);
    return;
  }

  const ctx: RequestContext = {
    req,
    res,
    entry,
    sim,
    tenant,
    params: match.params,
    query: url.searchParams,
    body,
  };
  try {
    await match.route.handler(ctx);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    sendError(reply, error.status, error.message, error.headers);
  }
}

/** The request line and headers as they came on the wire: what a front door's header limit counts. */
function headerBytes(req: IncomingMessage): number {
  let bytes = Buffer.byteLength(`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n\r\n`);
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    bytes += Buffer.byteLength(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`);
  }
  return bytes;
}

/** Returns true when the request should go on to be handled normally. */
async function applyFault(
  sim: Simulation,
  req: IncomingMessage,
  reply: { res: ServerResponse; entry: RecordedRequest },
  fault: Fault,
): Promise<boolean> {
  if (fault.delayMs !== undefined && fault.delayMs > 0 && !(await sim.lifecycle.sleep(fault.delayMs))) {
    return false;
  }
  if (fault.reset) {
    reply.entry.status = 0;
    req.socket.destroy();
    return false;
  }
  if (fault.truncate) {
    reply.entry.status = 200;
    sendTruncated(reply.res);
    return false;
  }
  if (fault.body !== undefined || fault.headers !== undefined) {
    const status = fault.status ?? 200;
    const body = fault.body ?? '';
    reply.entry.status = status;
    reply.res.writeHead(status, { ...fault.headers, 'Content-Length': Buffer.byteLength(body) });
    reply.res.end(body);
    return false;
  }
  if (fault.status !== undefined || fault.retryAfter !== undefined) {
    const status = fault.status ?? 429;
    const headers = fault.retryAfter === undefined ? {} : { 'Retry-After': fault.retryAfter };
    sendError(reply, status, fault.message ?? STATUS_CODES[status] ?? `HTTP ${status}`, headers);
    return false;
  }
  return true;
}
