/** The HTTP status each contract code implies, for the routes that answer outside GraphQL (/reports, /odata). */
import type { ErrorCode } from '../errors.ts';

export type AnswerCode = ErrorCode | 'INTERNAL_SERVER_ERROR';

export const STATUS_BY_CODE: Record<AnswerCode, number> = {
  BAD_USER_INPUT: 400,
  GRAPHQL_PARSE_FAILED: 400,
  GRAPHQL_VALIDATION_FAILED: 400,
  PERSISTED_QUERY_REQUIRED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  PERSISTED_QUERY_NOT_FOUND: 404,
  CONFLICT: 409,
  GONE: 410,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL_SERVER_ERROR: 500,
  UPSTREAM_ERROR: 502,
  UPSTREAM_UNAVAILABLE: 503,
  UPSTREAM_TIMEOUT: 504,
};

export function statusOf(code: string): number {
  return STATUS_BY_CODE[code as AnswerCode] ?? 500;
}

/**
 * The challenge a 401 on /odata and /reports carries: Basic first, so Excel, Power BI and Tableau prompt for
 * credentials (the token as the password), then EPMware's own Token scheme.
 */
export const BASIC_CHALLENGE = ['Basic realm="EPMware gateway", charset="UTF-8"', 'Token'];
