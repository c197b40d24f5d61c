/**
 * GET /odata/, /odata/$metadata, /odata/{EntitySet}[(key)][/$count]: the OData 4.0 feed (see the contract's
 * "OData feed" and docs/reporting.md). The two documents need no credentials; entity sets run on a Context built by
 * createContext exactly as a GraphQL request's (credential, directory, upstream-call counter), so the feed spends
 * the same budget, shares the same cache and meets the same limits as the graph. Everything the client controls
 * (the path, the options, the credentials) is checked before the first upstream call.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GraphQLSchema } from 'graphql';
import { type Context, createContext, type RequestInfo, type Services } from '../context.ts';
import { nameKey } from '../directory.ts';
import { GatewayError, InputError } from '../errors.ts';
import { MAX_CONFIGURATION_NAMES } from '../schema/execution.ts';
import { authorizationOf } from '../upstream/credential.ts';
import type { Row } from './filter.ts';
import { pinnedValues } from './filter.ts';
import { keyLookup } from './keys.ts';
import { metadataDocument, serviceDocument } from './metadata.ts';
import { type EntitySet, entityModel, isEntitySetName } from './model.ts';
import { decodeSkipToken, MAX_PAGE_SIZE, pageOf, type SortValue, sortKeys } from './paging.ts';
import { type OrderKey, parseQuery, type QueryPlan } from './query.ts';
import { MethodNotAllowed, NotImplemented } from './refusals.ts';
import { PRIVATE, sendError, sendJson, sendText } from './respond.ts';
import { executionRows, listedRows } from './sources.ts';

export const ODATA_ROOT = '/odata';

/** `Users`, `Users('jane')`, `Users/$count`: the set, the key predicate's text, and whether $count was asked. */
const RESOURCE = /^([A-Za-z]+)(\(.*\))?(\/\$count)?$/;

export type ODataHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  info: RequestInfo,
) => Promise<void>;

export function odataHandler(services: Services, schema: GraphQLSchema): ODataHandler {
  const model = entityModel(schema);
  const sets = [...model.values()];
  const metadata = metadataDocument(sets);
  return async (req, res, requestId, info) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new MethodNotAllowed(req.method ?? '');
      const url = new URL(req.url ?? '/', 'http://gateway');
      const serviceRoot = `${info.origin}${ODATA_ROOT}/`;
      const resource = decodedPath(url.pathname.slice(ODATA_ROOT.length + 1));
      if (resource === '') return sendJson(res, serviceDocument(serviceRoot, sets));
      if (resource === '$metadata') return sendText(res, 'application/xml;charset=utf-8', metadata);

      const match = RESOURCE.exec(resource);
      const setName = match?.[1];
      if (!match && /^[A-Za-z]+(\(.*\))?\/.+$/.test(resource)) {
        throw new NotImplemented(
          'Navigation and property paths are not supported: read the entity set with $select',
        );
      }
      if (!match || !setName || !isEntitySetName(setName)) {
        throw new GatewayError(
          'NOT_FOUND',
          `No resource ${resource.slice(0, 80)}: the entity sets are ${sets.map((s) => s.name).join(', ')}`,
        );
      }
      const set = model.get(setName) as EntitySet;
      const ctx = contextFor(services, info, requestId);
      const plan = parseQuery(url.searchParams, set);
      const key = match[2] === undefined ? undefined : keyLookup(set, match[2]);
      if (key && match[3]) throw new InputError('$count counts a collection, not one entity');
      const order = sortKeys(set, plan.orderBy);
      const after = plan.skipToken === undefined ? undefined : decodeSkipToken(order, plan.skipToken);

      const rows = await rowsOf(services, schema, ctx, set, plan, key?.pinned);
      const matching = plan.filter ? rows.filter(plan.filter.predicate) : rows;
      if (match[3]) return sendText(res, 'text/plain;charset=utf-8', String(matching.length), PRIVATE);
      if (key) {
        const found = matching.find(key.matches);
        if (!found) throw new GatewayError('NOT_FOUND', `${set.name} has no entity ${match[2]}`);
        return sendJson(
          res,
          {
            '@odata.context': `${serviceRoot}$metadata#${set.name}${selectedList(plan)}/$entity`,
            ...entityOf(found, plan),
          },
          PRIVATE,
        );
      }
      sendPage(req, res, { set, plan, order, after }, matching, serviceRoot);
    } catch (error) {
      sendError(res, error, services.logger);
    }
  };
}

function decodedPath(path: string): string {
  try {
    return decodeURIComponent(path).replace(/\/$/, '');
  } catch {
    throw new InputError('The path is not valid percent-encoding');
  }
}

/** The request's Context, built as a GraphQL request's: Basic credentials carry the token as the password. */
function contextFor(services: Services, info: RequestInfo, requestId: string): Context {
  const auth = authorizationOf(info.authorization);
  if ('problem' in auth) throw new GatewayError('UNAUTHENTICATED', auth.problem);
  const ctx = createContext(services, { ...info, authorization: auth.authorization ?? null }, requestId);
  if (!ctx.credential) {
    throw new GatewayError(
      'UNAUTHENTICATED',
      'No EPMware token: send Basic credentials with the token as the password (any user name), ' +
        'or "Authorization: Token <t>" (or Bearer)',
    );
  }
  return ctx;
}

async function rowsOf(
  services: Services,
  schema: GraphQLSchema,
  ctx: Context,
  set: EntitySet,
  plan: QueryPlan,
  pinnedByKey: readonly string[] | undefined,
): Promise<Row[]> {
  if (!set.requiredFilter) return listedRows(schema, ctx, set);
  const pinned = pinnedByKey ?? (plan.filter && pinnedValues(plan.filter, set.requiredFilter));
  if (!pinned) {
    throw new InputError(
      `${set.name} needs a $filter on ${set.requiredFilter} (eq or in), e.g. $filter=${set.requiredFilter} eq 'NAME': ` +
        'EPMware gives the history of a named configuration only',
    );
  }
  const names = [...new Map(pinned.map((name) => [nameKey(name), name])).values()];
  const most = Math.min(MAX_CONFIGURATION_NAMES, services.config.maxUpstreamCallsPerOperation);
  if (names.length > most) {
    throw new InputError(`At most ${most} ${set.requiredFilter} values in one request, got ${names.length}`);
  }
  return executionRows(schema, ctx, set, names);
}

function selectedList(plan: QueryPlan): string {
  return plan.selected ? `(${plan.select.map((property) => property.name).join(',')})` : '';
}

function entityOf(row: Row, plan: QueryPlan): Record<string, unknown> {
  const entity: Record<string, unknown> = {};
  for (const property of plan.select) entity[property.name] = row[property.name] ?? null;
  return entity;
}

/** `Prefer: odata.maxpagesize=n` (at most MAX_PAGE_SIZE), or undefined. */
function preferredPageSize(req: IncomingMessage): number | undefined {
  const prefer = req.headers.prefer;
  const text = Array.isArray(prefer) ? prefer.join(',') : (prefer ?? '');
  const found = /(?:^|[,;\s])odata\.maxpagesize\s*=\s*"?(\d{1,9})"?/i.exec(text)?.[1];
  const size = found === undefined ? undefined : Number(found);
  return size !== undefined && size > 0 ? Math.min(size, MAX_PAGE_SIZE) : undefined;
}

interface Paging {
  set: EntitySet;
  plan: QueryPlan;
  order: readonly OrderKey[];
  after: readonly SortValue[] | undefined;
}

function sendPage(
  req: IncomingMessage,
  res: ServerResponse,
  { set, plan, order, after }: Paging,
  matching: readonly Row[],
  serviceRoot: string,
): void {
  const preferred = preferredPageSize(req);
  const page = pageOf(matching, order, {
    after,
    skip: plan.skip,
    size: preferred ?? MAX_PAGE_SIZE,
    remaining: plan.top,
  });
  const body: Record<string, unknown> = {
    '@odata.context': `${serviceRoot}$metadata#${set.name}${selectedList(plan)}`,
  };
  if (plan.count) body['@odata.count'] = matching.length;
  body.value = page.rows.map((row) => entityOf(row, plan));
  if (page.nextToken)
    body['@odata.nextLink'] = nextLink(serviceRoot, set, plan, page.rows.length, page.nextToken);
  sendJson(res, body, {
    ...PRIVATE,
    ...(preferred ? { 'preference-applied': `odata.maxpagesize=${preferred}` } : {}),
  });
}

/** The same request for the next page: its options less $skip (the token's position replaces it), $top less what
 * this page gave, and the token. Spaces are %20, as OData's examples write them. */
function nextLink(
  serviceRoot: string,
  set: EntitySet,
  plan: QueryPlan,
  given: number,
  token: string,
): string {
  const options: string[] = [];
  for (const [name, value] of plan.raw) {
    if (name === '$skip' || name === '$skiptoken' || name === '$top') continue;
    options.push(`${name}=${encodeURIComponent(value)}`);
  }
  if (plan.top !== undefined) options.push(`$top=${plan.top - given}`);
  options.push(`$skiptoken=${encodeURIComponent(token)}`);
  return `${serviceRoot}${set.name}?${options.join('&')}`;
}
