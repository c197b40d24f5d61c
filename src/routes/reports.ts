/**
 * GET /reports: the catalog (every report's name, columns, variables and its CSV, NDJSON and OData URLs).
 * GET /reports/{name or documentId}.csv and .ndjson[?variables=<json>&rows=<path>&operationName=<name>]: a report
 * as rows, for Excel/Power Query, Power BI and Grafana's Infinity data source.
 *
 * A report is a query (built in, or an operation of the operator's manifest) and runs through the gateway's own
 * Yoga (`runGraphQL`, i.e. yoga.fetch) with the request's credentials (Basic with the token as the password, as BI
 * tools send it, or Token/Bearer): the same token rules, limits, upstream budget and error masking as /graphql,
 * and no second schema stack. A connection on the row path is fetched whole, page after page (reports/paging.ts),
 * up to MAX_REPORT_ROWS; past that the report fails with PAYLOAD_TOO_LARGE instead of stopping silently. Every page
 * completes before the first row is written, so a GraphQL error becomes one JSON `{code, message}` with a matching
 * HTTP status, never half a CSV; then rows are streamed (see reports/formats.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type GraphQLSchema, getVariableValues, print } from 'graphql';
import type { Services } from '../context.ts';
import { operationOf } from '../persisted/manifest.ts';
import { type Report, ReportCatalog, variablesOf } from '../reports/catalog.ts';
import { CONTENT_TYPES, type ReportFormat, reportChunks } from '../reports/formats.ts';
import { AFTER_VARIABLE, PAGE_INFO_KEY, pagedQuery } from '../reports/paging.ts';
import { type RowPath, rowPathOf } from '../reports/row-path.ts';
import { type Cell, rowsAt, shapeOf } from '../reports/rows.ts';
import { authorizationOf } from '../upstream/credential.ts';
import { sendJson } from './respond.ts';
import { BASIC_CHALLENGE, statusOf } from './status.ts';

export const REPORT_ROUTE = /^\/reports(?:\/([^/]+)\.(csv|ndjson))?\/?$/;

/** The most rows one report may have: past it the report is refused (filter it, or use the OData feed's paging). */
export const MAX_REPORT_ROWS = 100_000;

/**
 * The route of a REPORT_ROUTE match as a template (its span's name and `http.route`): the report (an id or a name,
 * still called documentId there, as dashboards know it) is left out.
 */
export function reportRouteTemplate(match: RegExpExecArray): string {
  return match[2] ? `/reports/{documentId}.${match[2]}` : '/reports';
}

/**
 * Runs one GraphQL-over-HTTP request through the gateway's Yoga, with this Authorization (Basic credentials already
 * turned into `Token <t>`): the context's credential comes from it, as /graphql's does from its header.
 */
export type RunGraphQL = (request: Request, authorization: string | null) => Promise<Response>;

export type ReportsHandler = (
  match: RegExpExecArray,
  req: IncomingMessage,
  res: ServerResponse,
  runGraphQL: RunGraphQL,
  /** This gateway's origin as the client reached it (with TRUST_PROXY, as the proxy says). */
  publicOrigin: string,
) => Promise<void>;

interface GraphQLBody {
  data?: Record<string, unknown> | null;
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

export function reportsHandler(services: Services, schema: GraphQLSchema): ReportsHandler {
  const catalog = new ReportCatalog(services.config.persistedDocuments);
  return async (match, req, res, runGraphQL, publicOrigin) => {
    try {
      if (req.method !== 'GET') {
        res.setHeader('allow', 'GET');
        sendJson(res, 405, { code: 'BAD_USER_INPUT', message: `${req.method} is not allowed here: use GET` });
        return;
      }
      if (!match[1]) {
        sendJson(res, 200, catalogBody(catalog, schema, publicOrigin));
        return;
      }
      await serveReport(services, catalog, schema, match, req, res, (request, authorization) =>
        runGraphQL(request, authorization),
      );
    } catch (error) {
      if (res.headersSent || res.destroyed) {
        // The client went away (mid-report, or before the result was ready): nothing is left to answer.
        return;
      }
      if (error instanceof ReportRefusal) {
        if (error.code === 'UNAUTHENTICATED') res.setHeader('www-authenticate', BASIC_CHALLENGE);
        sendJson(res, statusOf(error.code), { code: error.code, message: error.message });
        return;
      }
      services.logger.error({ err: error }, 'report failed');
      sendJson(res, 500, { code: 'INTERNAL_SERVER_ERROR', message: 'Unexpected error.' });
    }
  };
}

function catalogBody(catalog: ReportCatalog, schema: GraphQLSchema, base: string): Record<string, unknown> {
  return {
    reports: catalog.list().map((report) => {
      const path = rowPathOf(schema, report.document, report.operation, report.rows);
      const columns = typeof path === 'object' && path ? columnsOf(report, path) : [];
      return {
        name: report.name,
        source: report.id ? 'manifest' : 'builtin',
        ...(report.id ? { id: report.id } : {}),
        ...(report.description ? { description: report.description } : {}),
        ...(report.rows ? { rows: report.rows } : {}),
        columns,
        variables: variablesOf(report.operation),
        csv: `${base}/reports/${report.name}.csv`,
        ndjson: `${base}/reports/${report.name}.ndjson`,
        odata: report.odata ? `${base}/odata/${report.odata}` : null,
      };
    }),
  };
}

function columnsOf(report: Report, path: RowPath): string[] {
  const rows = rowsAt(null, shapeOf(report.document, report.operation), path.path, path.firstList);
  return typeof rows === 'string' ? [] : rows.columns;
}

/** The report a path names: a manifest id (hex, `sha256:` optional) or an operation name. */
function reportNamed(
  catalog: ReportCatalog,
  key: string,
  operationName: string | undefined,
  services: Services,
): Report {
  const byId = /^(sha256:)?[0-9a-f]{64}$/i.test(key)
    ? services.config.persistedDocuments.get(key)
    : undefined;
  if (byId) {
    const operation = operationOf(byId, operationName);
    if (!operation) {
      throw new ReportRefusal(
        'BAD_USER_INPUT',
        operationName
          ? `The document has no operation named ${operationName}`
          : 'The document has several operations: name one with ?operationName=',
      );
    }
    return {
      name: operation.name?.value ?? 'report',
      document: byId.document,
      operation,
      id: byId.id,
      rows: undefined,
      odata: undefined,
      description: undefined,
    };
  }
  const byName = catalog.byName(key);
  if (byName) return byName;
  if (/^(sha256:)?[0-9a-f]{64}$/i.test(key)) {
    throw new ReportRefusal(
      'PERSISTED_QUERY_NOT_FOUND',
      `No persisted document has the id ${key.slice(0, 80)}`,
    );
  }
  throw new ReportRefusal('NOT_FOUND', `No report is named ${key.slice(0, 80)}: GET /reports lists them`);
}

async function serveReport(
  services: Services,
  catalog: ReportCatalog,
  schema: GraphQLSchema,
  match: RegExpExecArray,
  req: IncomingMessage,
  res: ServerResponse,
  runGraphQL: RunGraphQL,
): Promise<void> {
  const format = match[2] as ReportFormat;
  const query = new URL(req.url ?? '/', 'http://gateway').searchParams;
  const report = reportNamed(
    catalog,
    decoded(match[1] ?? ''),
    query.get('operationName') || undefined,
    services,
  );
  if (report.operation.operation !== 'query') {
    throw new ReportRefusal(
      'BAD_USER_INPUT',
      `Reports run queries only; this document is a ${report.operation.operation}`,
    );
  }
  const variables = variablesFrom(query.get('variables'));
  const path = rowPathOf(schema, report.document, report.operation, query.get('rows') ?? report.rows);
  if (typeof path === 'string') throw new ReportRefusal('BAD_USER_INPUT', path);
  const auth = authorizationOf(req.headers.authorization);
  if ('problem' in auth) throw new ReportRefusal('UNAUTHENTICATED', auth.problem);
  // Checked against the operation as written: the paged rewrite below drops the variables it no longer uses (a
  // `first`), and a bad value for one of those must still be a 400, as on /graphql.
  const coerced = getVariableValues(schema, report.operation.variableDefinitions ?? [], variables ?? {});
  if (coerced.errors?.[0]) throw new ReportRefusal('BAD_USER_INPUT', coerced.errors[0].message);

  const shape = shapeOf(report.document, report.operation);
  const pages: Array<Record<string, unknown> | null | undefined> = [];
  const paged = path && pagedQuery(report.document, report.operation, path.path[0] as string);
  if (!paged) {
    // No connection on the row path: one request, by id for a manifest document (exactly the trusted text).
    const params = report.id
      ? { documentId: report.id, operationName: report.operation.name?.value, variables }
      : { query: print(report.document), operationName: report.operation.name?.value, variables };
    pages.push((await execute(runGraphQL, auth.authorization, params)).data);
  } else {
    let after: string | null = null;
    let rows = 0;
    for (;;) {
      const body = await execute(runGraphQL, auth.authorization, {
        query: paged.text,
        operationName: paged.operationName,
        variables: { ...variables, [AFTER_VARIABLE]: after },
      });
      pages.push(body.data);
      const connection = body.data?.[path.path[0] as string] as
        | {
            [PAGE_INFO_KEY]?: { hasNextPage?: boolean; endCursor?: string | null };
            nodes?: unknown[];
            edges?: unknown[];
          }
        | null
        | undefined;
      rows += (connection?.nodes ?? connection?.edges ?? []).length;
      const pageInfo = connection?.[PAGE_INFO_KEY];
      if (!pageInfo?.hasNextPage || !pageInfo.endCursor || pageInfo.endCursor === after) break;
      if (rows >= MAX_REPORT_ROWS) {
        throw new ReportRefusal(
          'PAYLOAD_TOO_LARGE',
          `The report has more than ${MAX_REPORT_ROWS} rows: narrow it with its variables, or read the OData feed, which pages`,
        );
      }
      after = pageInfo.endCursor;
    }
  }

  const columns = path ? columnsOf(report, path) : [];
  const name = report.name.replace(/[^\w.-]/g, '_');
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[format],
    'content-disposition': `attachment; filename="${name}.${format}"`,
    // One token's data: no shared cache may keep it.
    'cache-control': 'private, no-store',
    'x-content-type-options': 'nosniff',
  });
  await pipeline(Readable.from(reportChunks(format, columns, allRows(pages, shape, path))), res);
}

function* allRows(
  pages: ReadonlyArray<Record<string, unknown> | null | undefined>,
  shape: ReturnType<typeof shapeOf>,
  path: RowPath | undefined,
): Generator<Cell[]> {
  if (!path) return;
  for (const data of pages) {
    const rows = rowsAt(data, shape, path.path, path.firstList);
    if (typeof rows !== 'string') yield* rows.rows;
  }
}

function decoded(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ReportRefusal('BAD_USER_INPUT', 'The report in the path is not valid percent-encoding');
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

/**
 * POSTs one GraphQL request to the gateway's own /graphql with the client's credentials (Basic already turned into
 * `Token <t>`) and origin; the first error refuses the whole report.
 */
async function execute(
  runGraphQL: RunGraphQL,
  authorization: string | null | undefined,
  params: {
    documentId?: string;
    query?: string;
    variables?: Record<string, unknown>;
    operationName?: string;
  },
): Promise<GraphQLBody> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
  };
  // Passed on as it came, even empty: the token rules (absent, malformed, Token/Bearer) are /graphql's own.
  if (authorization !== undefined && authorization !== null) headers.authorization = authorization;
  // The context (and so links in the data, Task.downloadUrl) comes from the route's request; the URL is Yoga's.
  const url = new URL('/graphql', 'http://gateway').href;
  const response = await runGraphQL(
    new Request(url, { method: 'POST', headers, body: JSON.stringify(params) }),
    authorization ?? null,
  );
  let body: GraphQLBody;
  try {
    body = (await response.json()) as GraphQLBody;
  } catch {
    throw new ReportRefusal('INTERNAL_SERVER_ERROR', 'Unexpected error.');
  }
  const error = body.errors?.[0];
  if (error) {
    const code = typeof error.extensions?.code === 'string' ? error.extensions.code : 'INTERNAL_SERVER_ERROR';
    throw new ReportRefusal(code, typeof error.message === 'string' ? error.message : 'Unexpected error.');
  }
  return body;
}
