/**
 * The example operations front ends start from (examples/operations/*.graphql): every document is valid against
 * schema.graphql (the check `npm run operations:check` runs in CI), the checker itself catches what it claims to, and
 * every example query runs against the live gateway without an error, with what the simulator holds.
 */
import { Kind, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkOperationDocuments,
  formatProblem,
  loadSchema,
  readOperationDocuments,
} from '../scripts/check-operations.ts';
import { type Stack, startStack } from './harness.ts';

const documents = readOperationDocuments();

describe('examples/operations', () => {
  it('holds a document for each screen the README promises', () => {
    expect(documents.map((document) => document.file.split('/').at(-1))).toEqual([
      'deployment-dashboard.graphql',
      'export-download.graphql',
      'group-membership.graphql',
      'reporting.graphql',
      'user-admin.graphql',
    ]);
  });

  it('every document is valid against schema.graphql', () => {
    expect(checkOperationDocuments(loadSchema(), documents).map(formatProblem)).toEqual([]);
  });
});

describe('the operations checker', () => {
  const schema = loadSchema();
  const check = (...sources: string[]) =>
    checkOperationDocuments(
      schema,
      sources.map((source, index) => ({ file: `doc${index}.graphql`, source })),
    ).map(formatProblem);

  it('reports a field the schema does not have, with its place', () => {
    expect(check('query Q {\n  users { nodes { shoeSize } } }')).toEqual([
      'doc0.graphql:2:19: Cannot query field "shoeSize" on type "User".',
    ]);
  });

  it('reports a document that does not parse, a wrong argument type, an anonymous operation', () => {
    expect(check('query Q { users(')[0]).toMatch(/^doc0\.graphql:1:17: Syntax Error/);
    expect(check('query Q { users(first: "ten") { totalCount } }')[0]).toContain('Int cannot represent');
    expect(check('{ users { totalCount } }')).toEqual([
      'doc0.graphql:1:1: every example operation needs a name',
    ]);
  });

  it('reports an operation name used in two files, and a file with no operation', () => {
    expect(check('query Same { __typename }', 'query Same { __typename }')).toEqual([
      'doc1.graphql: operation Same is also defined in doc0.graphql',
    ]);
    expect(check('fragment F on User { id }')).toContain('doc0.graphql: no operation in this file');
  });
});

describe('the example queries against the live gateway', () => {
  let stack: Stack;
  beforeAll(async () => {
    // No reuse of GET answers between tests: each test counts the upstream calls its own queries make.
    stack = await startStack({ env: { CACHE_TTL_MS: '0' } });
  });
  afterAll(() => stack.close());

  /** Variables for each example query: a new example query without an entry here fails the test below. */
  function variablesFor(operation: string): Record<string, unknown> | undefined {
    const { fixtures } = stack.sim;
    const tenant = stack.sim.state();
    const someUser = tenant.users()[0]?.userName;
    const someGroup = tenant.groups()[0]?.name;
    const table: Record<string, Record<string, unknown>> = {
      UserAdminPage: { first: 5, filter: { enabled: true }, orderBy: { field: 'LAST_NAME' } },
      UserDetail: { userName: someUser },
      GroupPicker: {},
      GroupWithMembers: { name: someGroup },
      UserMemberships: { userName: someUser },
      DeploymentDashboard: { names: fixtures.deploymentNames },
      DeploymentTaskLog: { taskId: fixtures.failedTaskId, tailLines: 20 },
      ExportTask: { taskId: fixtures.exportTaskId },
      RecentExportFiles: { names: fixtures.exportNames },
      DeploymentHistoryReport: { names: fixtures.deploymentNames },
      ExportHistoryReport: { names: [...fixtures.exportNames, ...fixtures.exportBookNames] },
      AccessReviewReport: {},
    };
    return table[operation];
  }

  async function run(source: string, operationName: string, variables: Record<string, unknown>) {
    const response = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Token ${stack.token}` },
      body: JSON.stringify({ query: source, operationName, variables }),
    });
    return (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
  }

  it('every example query answers without an error', async () => {
    let queries = 0;
    for (const { file, source } of documents) {
      for (const definition of parse(source).definitions) {
        if (definition.kind !== Kind.OPERATION_DEFINITION || definition.operation !== 'query') continue;
        const name = definition.name?.value ?? '';
        const variables = variablesFor(name);
        expect(variables, `variables for ${name} (${file})`).toBeDefined();
        const result = await run(source, name, variables ?? {});
        expect(result.errors, `${name}: ${JSON.stringify(result.errors)}`).toBeUndefined();
        expect(result.data, name).toBeTruthy();
        queries++;
      }
    }
    expect(queries).toBe(12);
  });

  it('the reporting query returns every run of every deployment named, as EPMware holds them', async () => {
    const { fixtures } = stack.sim;
    const source = documents.find((document) => document.file.endsWith('reporting.graphql'))?.source ?? '';
    stack.sim.clearRequests();
    const result = await run(source, 'DeploymentHistoryReport', { names: fixtures.deploymentNames });
    const deployments = (result.data?.deployments ?? []) as Array<{ name: string; executions: unknown[] }>;
    expect(deployments.map((deployment) => deployment.name)).toEqual(fixtures.deploymentNames);
    for (const deployment of deployments) {
      expect(deployment.executions, deployment.name).toHaveLength(
        stack.sim.state().deploymentExecutions(deployment.name).length,
      );
    }
    // One history call per deployment, each with the caller's token.
    const calls = stack.sim.requests({ path: '/service/api/deployment/get_execution_details' });
    expect(calls).toHaveLength(fixtures.deploymentNames.length);
    expect(calls.every((call) => call.token === stack.token)).toBe(true);
  });

  it('the user-admin page walks forward with endCursor and counts every match', async () => {
    const source = documents.find((document) => document.file.endsWith('user-admin.graphql'))?.source ?? '';
    const enabled = stack.sim
      .state()
      .users()
      .filter((user) => user.enable === 'Y').length;
    type Page = {
      users: {
        totalCount: number;
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
        edges: Array<{ node: { userName: string; enabled: boolean } }>;
      };
    };
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 100; page++) {
      const result = await run(source, 'UserAdminPage', { first: 25, after, filter: { enabled: true } });
      const users = (result.data as Page).users;
      expect(users.totalCount).toBe(enabled);
      seen.push(...users.edges.map((edge) => edge.node.userName));
      expect(users.edges.every((edge) => edge.node.enabled)).toBe(true);
      if (!users.pageInfo.hasNextPage) break;
      after = users.pageInfo.endCursor;
    }
    expect(seen).toHaveLength(enabled);
    expect(new Set(seen).size).toBe(enabled);
  });
});
