// HTTP plumbing shared by the handlers: the error type, JSON/text answers, and the request body.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { RecordedRequest } from './contract.ts';
import type { Simulation } from './simulation.ts';
import type { Tenant } from './tenant.ts';

/** Thrown by handlers; answered with the EPMware error body {"status":"E","message":...}. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: OutgoingHttpHeaders = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string): ApiError => new ApiError(400, message);
export const notFound = (message: string): ApiError => new ApiError(404, message);
export const conflict = (message: string): ApiError => new ApiError(409, message);

export type RequestBody =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'invalid'; raw: string }
  | { kind: 'tooLarge' }
  /** Left unread for a handler that streams it (uploads). */
  | { kind: 'stream' };

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  entry: RecordedRequest;
  sim: Simulation;
  tenant: Tenant;
  params: Record<string, string>;
  query: URLSearchParams;
  body: RequestBody;
}

// JSON bodies of this API are small; anything bigger is discarded unread rather than buffered.
const MAX_JSON_BYTES = 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<RequestBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > MAX_JSON_BYTES) tooLarge = true;
    else chunks.push(buf);
  }
  if (tooLarge) return { kind: 'tooLarge' };
  const raw = Buffer.concat(chunks).toString('utf8');
  if (raw.trim() === '') return { kind: 'none' };
  try {
    return { kind: 'json', value: JSON.parse(raw) as unknown };
  } catch {
    return { kind: 'invalid', raw };
  }
}

/** The body as a JSON object, or a 400/413 for anything else. `optional` lets an empty body mean {}. */
export function jsonObject(ctx: RequestContext, optional = false): Record<string, unknown> {
  const body = ctx.body;
  switch (body.kind) {
    case 'none':
      if (optional) return {};
      throw badRequest('Request body is required');
    case 'invalid':
      throw badRequest('Malformed JSON in request body');
    case 'tooLarge':
      throw new ApiError(413, 'Request body too large');
    case 'stream':
      throw badRequest('Request body must be JSON');
    case 'json': {
      const value = body.value;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw badRequest('Request body must be a JSON object');
      }
      return value as Record<string, unknown>;
    }
  }
}

function answer(
  ctx: Pick<RequestContext, 'res' | 'entry'>,
  status: number,
  headers: OutgoingHttpHeaders,
  body: string,
): void {
  const { res, entry } = ctx;
  if (res.headersSent || res.destroyed) return;
  entry.status = status;
  res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendJson(
  ctx: Pick<RequestContext, 'res' | 'entry'>,
  status: number,
  value: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  answer(ctx, status, { 'Content-Type': 'application/json', ...headers }, JSON.stringify(value));
}

export function sendError(
  ctx: Pick<RequestContext, 'res' | 'entry'>,
  status: number,
  message: string,
  headers: OutgoingHttpHeaders = {},
): void {
  sendJson(ctx, status, { status: 'E', message }, headers);
}

export function sendText(ctx: Pick<RequestContext, 'res' | 'entry'>, status: number, text: string): void {
  answer(ctx, status, { 'Content-Type': 'text/plain; charset=utf-8' }, text);
}

/** A required, non-empty string field; the message names the field. */
export function requireString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value.trim() === '') {
    throw badRequest(`Field '${field}' is required and must be a non-empty string`);
  }
  return value;
}

export function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badRequest(`Field '${field}' must be a string`);
  return value;
}

export function requireQuery(ctx: RequestContext, name: string): string {
  const value = ctx.query.get(name);
  if (value === null || value.trim() === '') throw badRequest(`Query parameter '${name}' is required`);
  return value;
}
