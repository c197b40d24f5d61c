/**
 * Where an entity set's rows come from: the graph itself. Each set is one GraphQL query over the scalar fields the
 * model derived from the schema, executed against the same schema on the request's own Context (createContext:
 * its credential, its SecurityDirectory, its upstream-call counter), so users, groups, memberships and execution
 * histories are fetched exactly as the graph fetches them, through the same upstream client (budget, cache,
 * coalescing, breaker) and MAX_UPSTREAM_CALLS_PER_OPERATION, and every value is the one /graphql serves.
 *
 * The lists come whole, as EPMware gives them (one `GET /security/users`, `/groups`, `/groups/users` per request,
 * whatever the page): the directory fetches each at most once per Context, so walking the connection's pages
 * in-process costs no further upstream call; filtering, ordering and paging then happen in memory (filter.ts,
 * paging.ts), which the graph's own filters could not express (case-sensitive comparisons, gt/lt on any property).
 */
import { type DocumentNode, execute, type GraphQLSchema, parse } from 'graphql';
import type { Context } from '../context.ts';
import { findGatewayError, GatewayError } from '../errors.ts';
import type { Row } from './filter.ts';
import type { EntitySet } from './model.ts';

/** The connection's page size: the graph's maximum. */
const CONNECTION_PAGE = 1000;

interface ExecutionResultBody {
  data?: Record<string, unknown> | null;
  errors?: ReadonlyArray<{
    originalError?: Error | undefined;
    message: string;
    path?: ReadonlyArray<string | number>;
  }>;
}

const documents = new WeakMap<EntitySet, DocumentNode>();

function fieldsOf(set: EntitySet): string {
  return set.properties.map((property) => property.field).join(' ');
}

/** The one query a set's rows come from. */
function documentOf(set: EntitySet): DocumentNode {
  let document = documents.get(set);
  if (document) return document;
  let text: string;
  const page = `first: ${CONNECTION_PAGE}, after: $after`;
  const pageInfo = 'pageInfo { hasNextPage endCursor }';
  switch (set.name) {
    case 'Users':
      text = `query ODataUsers($after: String) { list: users(${page}) { ${pageInfo} nodes { ${fieldsOf(set)} } } }`;
      break;
    case 'Groups':
      text = `query ODataGroups($after: String) { list: groups(${page}) { ${pageInfo} nodes { ${fieldsOf(set)} } } }`;
      break;
    case 'Memberships':
      text = `query ODataMemberships($after: String) { list: users(${page}) { ${pageInfo} nodes { userName groups { name } } } }`;
      break;
    case 'DeploymentExecutions':
      text = `query ODataDeploymentExecutions($names: [String!]!) { list: deployments(names: $names) { executions { ${fieldsOf(set)} } } }`;
      break;
    case 'ExportExecutions':
      text = `query ODataExportExecutions($names: [String!]!) { list: exports(names: $names) { executions { ${fieldsOf(set)} } } }`;
      break;
  }
  document = parse(text);
  documents.set(set, document);
  return document;
}

async function run(
  schema: GraphQLSchema,
  ctx: Context,
  document: DocumentNode,
  variables: Record<string, unknown>,
): Promise<ExecutionResultBody> {
  return (await execute({
    schema,
    document,
    contextValue: ctx,
    variableValues: variables,
  })) as ExecutionResultBody;
}

/** The first error of a result as the GatewayError it carries (an unknown failure stays a bug: rethrown). */
function failureOf(
  result: ExecutionResultBody,
): { error: GatewayError; path: ReadonlyArray<string | number> } | undefined {
  const first = result.errors?.[0];
  if (!first) return undefined;
  const error = findGatewayError(first.originalError ?? first);
  if (!error) throw first.originalError ?? new Error(first.message);
  return { error, path: first.path ?? [] };
}

function rowOf(set: EntitySet, node: Record<string, unknown>): Row {
  const row: Record<string, unknown> = {};
  for (const property of set.properties) row[property.name] = node[property.field] ?? null;
  return row;
}

/** Every row of a listed set (Users, Groups, Memberships), walking the graph's connection in-process. */
export async function listedRows(schema: GraphQLSchema, ctx: Context, set: EntitySet): Promise<Row[]> {
  const document = documentOf(set);
  const rows: Row[] = [];
  let after: string | null = null;
  for (;;) {
    const result = await run(schema, ctx, document, { after });
    const failure = failureOf(result);
    if (failure) throw failure.error;
    const list = result.data?.list as {
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
      nodes: Array<Record<string, unknown>>;
    };
    for (const node of list.nodes) {
      if (set.name !== 'Memberships') {
        rows.push(rowOf(set, node));
        continue;
      }
      for (const group of node.groups as Array<{ name: string }>) {
        rows.push({ userName: node.userName, groupName: group.name });
      }
    }
    if (!list.pageInfo.hasNextPage || !list.pageInfo.endCursor) return rows;
    after = list.pageInfo.endCursor;
  }
}

/** The runs of the named deployments or exports; an unknown name is NOT_FOUND naming it. */
export async function executionRows(
  schema: GraphQLSchema,
  ctx: Context,
  set: EntitySet,
  names: readonly string[],
): Promise<Row[]> {
  const result = await run(schema, ctx, documentOf(set), { names });
  const failure = failureOf(result);
  if (failure) {
    const index = failure.path[1];
    const name = typeof index === 'number' ? names[index] : undefined;
    if (failure.error.code === 'NOT_FOUND' && name !== undefined) {
      const kind = set.name === 'DeploymentExecutions' ? 'deployment' : 'export';
      throw new GatewayError('NOT_FOUND', `EPMware has no ${kind} named '${name}'`);
    }
    throw failure.error;
  }
  const list = (result.data?.list ?? []) as Array<{ executions: Array<Record<string, unknown>> | null }>;
  return list.flatMap((configuration) => (configuration.executions ?? []).map((node) => rowOf(set, node)));
}
