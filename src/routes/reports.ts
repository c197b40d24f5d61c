/**
 * GET /reports/{documentId}.csv and .ndjson[?variables=<json>&operationName=<name>]: a persisted *query* run as
 * rows, for Excel/Power Query, Power BI and Grafana's Infinity data source.
 *
 * The query runs through the gateway's own Yoga (`runGraphQL`, i.e. yoga.fetch) as a POST {documentId, variables}
 * carrying the request's Authorization: the same token rules, limits, upstream budget and error masking as
 * /graphql, and no second schema stack. Execution completes first, so a GraphQL error becomes one JSON
 * `{code, message}` with a matching HTTP status, never half a CSV; then rows are streamed (see reports/formats.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Services } from '../context.ts';
import type { ErrorCode } from '../errors.ts';
import { operationOf } from '../persisted/manifest.ts';
import { CONTENT_TYPES, type ReportFormat, reportChunks } from '../reports/formats.ts';
import { findRows, shapeOf } from '../reports/rows.ts';
import { sendJson } from './respond.ts';

export const REPORT_ROUTE = /^\/reports\/([^/]+)\.(csv|ndjson)$/;

/** The route of a REPORT_ROUTE match as a template (its span's name and `http.route`): the document id is left out. */
export function reportRouteTemplate(match: RegExpExecArray): string {
  return `/reports/{documentId}.${match[2]}`;
}

/** Runs one GraphQL-over-HTTP request through the gateway's Yoga. */
export type RunGraphQL = (request: Request) => Promise<Response>;

const STATUS_BY_CODE: Record<ErrorCode | 'INTERNAL_SERVER_ERROR', number> = {
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

interface GraphQLBody {
  data?: unknown;
  errors?: Array<{ message?: unknown; extensions?: { code?: unknown } }>;
}

class ReportRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function handleReport(
  match: RegExpExecArray,
  req: IncomingMessage,
  res: ServerResponse,
  services: Services,
  runGraphQL: RunGraphQL,
): Promise<void> {
  try {
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      sendJson(res, 405, { code: 'BAD_USER_INPUT', message: `${req.method} is not allowed here: use GET` });
      return;
    }
    const format = match[2] as ReportFormat;
    const id = decoded(match[1] ?? '');
    const entry = services.config.persistedDocuments.get(id);
    if (!entry)
      throw new ReportRefusal(
        'PERSISTED_QUERY_NOT_FOUND',
        `No persisted document has the id ${id.slice(0, 80)}`,
      );
    const query = new URL(req.url ?? '/', 'http://gateway').searchParams;
    const variables = variablesFrom(query.get('variables'));
    const operationName = query.get('operationName') || undefined;
    const operation = operationOf(entry, operationName);
    if (!operation) {
      throw new ReportRefusal(
        'BAD_USER_INPUT',
        operationName
          ? `The document has no operation named ${operationName}`
          : 'The document has several operations: name one with ?operationName=',
      );
    }
    if (operation.operation !== 'query') {
      throw new ReportRefusal(
        'BAD_USER_INPUT',
        `Reports run queries only; this document is a ${operation.operation}`,
      );
    }

    const body = await execute(req, runGraphQL, {
      documentId: entry.id,
      variables,
      operationName,
    });
    const error = body.errors?.[0];
    if (error) {
      const code =
        typeof error.extensions?.code === 'string' ? error.extensions.code : 'INTERNAL_SERVER_ERROR';
      throw new ReportRefusal(code, typeof error.message === 'string' ? error.message : 'Unexpected error.');
    }

    const rows = findRows(body.data, shapeOf(entry.document, operation));
    const name = (operation.name?.value ?? 'report').replace(/[^\w.-]/g, '_');
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[format],
      'content-disposition': `attachment; filename="${name}.${format}"`,
      // One token's data: no shared cache may keep it.
      'cache-control': 'private, no-store',
      'x-content-type-options': 'nosniff',
    });
    await pipeline(Readable.from(reportChunks(format, rows?.columns ?? [], rows?.items ?? [])), res);
  } catch (error) {
    if (res.headersSent || res.destroyed) {
      // The client went away (mid-report, or before the result was ready): nothing is left to answer.
      return;
    }
    if (error instanceof ReportRefusal) {
      if (error.code === 'UNAUTHENTICATED') res.setHeader('www-authenticate', 'Token');
      sendJson(res, STATUS_BY_CODE[error.code as ErrorCode] ?? 500, {
        code: error.code,
        message: error.message,
      });
      return;
    }
    services.logger.error({ err: error }, 'report failed');
    sendJson(res, 500, { code: 'INTERNAL_SERVER_ERROR', message: 'Unexpected error.' });
  }
}

function decoded(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ReportRefusal('BAD_USER_INPUT', 'The document id in the path is not valid percent-encoding');
  }
}

function variablesFrom(raw: string | null): Record<string, unknown> | undefined {
  if (raw === null || raw === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ReportRefusal(
      'BAD_USER_INPUT',
      'variables must be URL-encoded JSON, e.g. variables=%7B%22first%22%3A10%7D',
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ReportRefusal('BAD_USER_INPUT', 'variables must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** POSTs {documentId, variables} to the gateway's own /graphql with the client's Authorization and origin. */
async function execute(
  req: IncomingMessage,
  runGraphQL: RunGraphQL,
  params: { documentId: string; variables?: Record<string, unknown>; operationName?: string },
): Promise<GraphQLBody> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
  };
  // Passed on as it came, even empty: the token rules (absent, malformed, Token/Bearer) are /graphql's own.
  if (req.headers.authorization !== undefined) headers.authorization = req.headers.authorization;
  // The origin the client reached, for links in the data (Task.downloadUrl), as /graphql computes it.
  let url = 'http://localhost/graphql';
  try {
    url = new URL('/graphql', `http://${req.headers.host ?? 'localhost'}`).href;
  } catch {
    // A Host header that is no host: links in the data then say localhost, as nothing better is known.
  }
  const response = await runGraphQL(
    new Request(url, { method: 'POST', headers, body: JSON.stringify(params) }),
  );
  try {
    return (await response.json()) as GraphQLBody;
  } catch {
    throw new ReportRefusal('INTERNAL_SERVER_ERROR', 'Unexpected error.');
  }
}
