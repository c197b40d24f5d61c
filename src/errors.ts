/**
 * The gateway's error vocabulary. Every failure a client can see has a stable `code` from the contract; the
 * GraphQL layer turns a `GatewayError` into `extensions.code` (see `toGraphQLError`) and masks everything else.
 */

import { GraphQLError } from 'graphql';
import { createGraphQLError, maskError as yogaMaskError } from 'graphql-yoga';

export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'GONE'
  | 'BAD_USER_INPUT'
  | 'PAYLOAD_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_ERROR'
  | 'GRAPHQL_PARSE_FAILED'
  | 'GRAPHQL_VALIDATION_FAILED'
  | 'PERSISTED_QUERY_NOT_FOUND'
  | 'PERSISTED_QUERY_REQUIRED';

export class GatewayError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatewayError';
    this.code = code;
  }
}

/** Bad arguments, caught before any upstream call. */
export class InputError extends GatewayError {
  constructor(message: string) {
    super('BAD_USER_INPUT', message);
    this.name = 'InputError';
  }
}

/** A failed upstream call: the status (when there was an answer) and EPMware's own message travel with it. */
export class UpstreamError extends GatewayError {
  readonly upstreamStatus: number | undefined;
  readonly endpoint: string;
  /** Seconds the upstream asked us to wait (429), when it said. */
  readonly retryAfterMs: number | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    details: { endpoint: string; upstreamStatus?: number; retryAfterMs?: number; cause?: unknown },
  ) {
    super(code, message, { cause: details.cause });
    this.name = 'UpstreamError';
    this.endpoint = details.endpoint;
    this.upstreamStatus = details.upstreamStatus;
    this.retryAfterMs = details.retryAfterMs;
  }
}

const codeByStatus: Record<number, ErrorCode> = {
  400: 'BAD_USER_INPUT',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  410: 'GONE',
  413: 'PAYLOAD_TOO_LARGE',
  429: 'RATE_LIMITED',
  503: 'UPSTREAM_UNAVAILABLE',
};

export function codeForStatus(status: number): ErrorCode {
  return codeByStatus[status] ?? 'UPSTREAM_ERROR';
}

/** The message clients see for an upstream answer: EPMware's own words when it gave any. */
export function upstreamErrorFromStatus(
  status: number,
  upstreamMessage: string | undefined,
  endpoint: string,
  retryAfterMs?: number,
): UpstreamError {
  const message = upstreamMessage?.trim() || `EPMware answered ${status} for ${endpoint}`;
  return new UpstreamError(codeForStatus(status), message, {
    endpoint,
    upstreamStatus: status,
    retryAfterMs,
  });
}

export function unauthenticated(): GatewayError {
  return new GatewayError(
    'UNAUTHENTICATED',
    'No EPMware token: send "Authorization: Token <t>" (or Bearer), or configure EPMWARE_TOKEN',
  );
}

/** Turns a gateway error into the GraphQL error clients see; anything else is left for Yoga to mask. */
export function toGraphQLError(error: GatewayError, raisedAs?: unknown): GraphQLError {
  const extensions: Record<string, unknown> = { code: error.code };
  if (error instanceof UpstreamError && error.upstreamStatus !== undefined) {
    extensions.upstreamStatus = error.upstreamStatus;
  }
  // Keep the path and locations of the field that failed, so a client can tell which field's data is missing.
  const at = raisedAs instanceof GraphQLError ? raisedAs : undefined;
  return createGraphQLError(error.message, {
    extensions,
    nodes: at?.nodes,
    source: at?.source,
    positions: at?.positions,
    path: at?.path,
  });
}

export function findGatewayError(error: unknown): GatewayError | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof GatewayError) return current;
    current =
      (current as { originalError?: unknown; cause?: unknown }).originalError ??
      (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * How every error leaves the gateway (Yoga's maskedErrors, and the deferred payloads envelop's masking misses):
 * a GatewayError keeps its message and gains its contract code; anything else is masked.
 */
export function maskGatewayError(error: unknown, message: string, isDev?: boolean): Error {
  const known = findGatewayError(error);
  return known ? toGraphQLError(known, error) : yogaMaskError(error, message, isDev);
}
