/**
 * Demand control against what really happens: for each example operation a front end starts from
 * (examples/operations/), with realistic variables, the estimate (read from the costs declared on the fields) and
 * the upstream calls EPMware receives when it runs, with the answer cache off so every call reaches the simulator.
 *
 * They are equal, except where the selection reads memberships: there the runtime takes either the memberships map
 * or a lone user's (or group's) own endpoint at each level, depending on how many parents the level has, which only
 * the data says; the estimate keeps room for both, so it is one above what was made (never below).
 */
import { type DocumentNode, Kind, type OperationDefinitionNode, parse } from 'graphql';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { readOperationDocuments } from '../scripts/check-operations.ts';
import { estimateUpstreamCalls } from '../src/cost/estimate.ts';
import { schema } from '../src/schema/index.ts';
import { COUNTED_UPSTREAM, type Stack, stackForFile } from './harness.ts';
import { sseClient } from './subscription-clients.ts';

// One poll per task before the first event, and none after it while the test counts.
const stack = stackForFile({
  env: { ...COUNTED_UPSTREAM.env, TASK_POLL_INTERVAL_MS: '60000' },
});

/** Every operation of every example document, by name. */
const operations = new Map<string, { document: DocumentNode; source: string; kind: string }>();
for (const { source } of readOperationDocuments()) {
  const document = parse(source);
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION && definition.name) {
      operations.set(definition.name.value, {
        document,
        source,
        kind: (definition as OperationDefinitionNode).operation,
      });
    }
  }
}

const apiCalls = () => stack.sim.requests().filter((call) => call.path.startsWith('/service/api/'));

/** A user of the simulator's tenant in at least two groups, and two of those groups. */
function memberOfTwo(stack: Stack): { userName: string; groups: [string, string] } {
  const state = stack.sim.state();
  for (const user of state.users()) {
    const [first, second] = state.groupsOf(user.userName);
    if (first && second) return { userName: user.userName, groups: [first, second] };
  }
  throw new Error('the simulator has no user in two groups');
}

function groupWithMembers(stack: Stack): string {
  const state = stack.sim.state();
  const group = state.groups().find((candidate) => state.members(candidate.name).length > 1);
  if (!group) throw new Error('the simulator has no group with members');
  return group.name;
}

interface Case {
  operation: string;
  variables: () => Record<string, unknown>;
  /** The estimate, and the calls EPMware received. */
  estimate: number;
  calls: number;
}

const NEW_USER = 'estimate.example';
const deployments = () => stack.sim.fixtures.deploymentNames.slice(0, 3);

// In file order, so the user-admin cases create the user the later ones change.
const cases: Case[] = [
  // deployment-dashboard.graphql: one history call per name and latestOnly (latest runs: Y; failures and
  // statistics share the whole history), then a run and its status, a task's first state, a status and a log.
  {
    operation: 'DeploymentDashboard',
    variables: () => ({ names: deployments(), since: '2025-05-01T00:00:00Z' }),
    estimate: 6,
    calls: 6,
  },
  {
    operation: 'StartDeployment',
    variables: () => ({
      name: stack.sim.fixtures.deploymentNames.find(
        (name) => name !== 'PROD_WEEKLY' && name !== stack.sim.fixtures.failingDeploymentName,
      ),
      timeoutMin: 30,
    }),
    estimate: 2,
    calls: 2,
  },
  {
    operation: 'DeploymentProgress',
    variables: () => ({ taskId: stack.sim.fixtures.succeededTaskId }),
    estimate: 1,
    calls: 1,
  },
  {
    operation: 'DeploymentTaskLog',
    variables: () => ({ taskId: stack.sim.fixtures.failedTaskId }),
    estimate: 2,
    calls: 2,
  },
  // export-download.graphql
  {
    operation: 'StartExport',
    variables: () => ({ name: stack.sim.fixtures.exportNames[0] }),
    estimate: 2,
    calls: 2,
  },
  {
    operation: 'ExportProgress',
    variables: () => ({ taskId: stack.sim.fixtures.exportTaskId }),
    estimate: 1,
    calls: 1,
  },
  {
    operation: 'ExportTask',
    variables: () => ({ taskId: stack.sim.fixtures.exportTaskId }),
    estimate: 1,
    calls: 1,
  },
  {
    operation: 'RecentExportFiles',
    variables: () => ({ names: stack.sim.fixtures.exportNames.slice(0, 3) }),
    estimate: 3,
    calls: 3,
  },
  // group-membership.graphql: a page of many groups takes the memberships map alongside the groups list; one
  // group or one user takes its own endpoint. The estimate keeps room for both.
  { operation: 'GroupPicker', variables: () => ({}), estimate: 3, calls: 2 },
  {
    operation: 'GroupWithMembers',
    variables: () => ({ name: groupWithMembers(stack) }),
    estimate: 4,
    calls: 3,
  },
  {
    operation: 'UserMemberships',
    variables: () => ({ userName: memberOfTwo(stack).userName }),
    estimate: 3,
    calls: 2,
  },
  {
    // The write, the user read back, the user's own groups, then every one of them's members in one map.
    operation: 'AssignUserToGroups',
    variables: () => {
      const { userName, groups } = memberOfTwo(stack);
      return { userName, groupNames: groups };
    },
    estimate: 5,
    calls: 4,
  },
  {
    operation: 'RemoveUserFromGroups',
    variables: () => {
      const { userName, groups } = memberOfTwo(stack);
      return { userName, groupNames: [groups[0]] };
    },
    estimate: 5,
    calls: 4,
  },
  // reporting.graphql
  {
    operation: 'DeploymentHistoryReport',
    variables: () => ({ names: deployments() }),
    estimate: 3,
    calls: 3,
  },
  {
    operation: 'ExportHistoryReport',
    variables: () => ({ names: stack.sim.fixtures.exportNames.slice(0, 3) }),
    estimate: 3,
    calls: 3,
  },
  { operation: 'AccessReviewReport', variables: () => ({}), estimate: 3, calls: 2 },
  // user-admin.graphql
  {
    operation: 'UserAdminPage',
    variables: () => ({
      first: 50,
      filter: { search: 'a', enabled: true },
      orderBy: { field: 'LAST_NAME', direction: 'ASC' },
    }),
    estimate: 3,
    calls: 2,
  },
  {
    operation: 'UserDetail',
    variables: () => ({ userName: memberOfTwo(stack).userName }),
    estimate: 3,
    calls: 2,
  },
  {
    operation: 'CreateSsoUser',
    variables: () => ({ input: { userName: NEW_USER, firstName: 'Ada', email: 'ada@example.com' } }),
    estimate: 4,
    calls: 3,
  },
  {
    operation: 'UpdateSsoUser',
    variables: () => ({ userName: NEW_USER, input: { lastName: 'Lovelace' } }),
    estimate: 4,
    calls: 3,
  },
  { operation: 'DisableUser', variables: () => ({ userName: NEW_USER }), estimate: 2, calls: 2 },
  { operation: 'EnableUser', variables: () => ({ userName: NEW_USER }), estimate: 2, calls: 2 },
  {
    // A write per user, then one read-back of the users list.
    operation: 'SetUsersEnabled',
    variables: () => ({ userNames: [NEW_USER, memberOfTwo(stack).userName], enabled: true }),
    estimate: 3,
    calls: 3,
  },
];

/** Runs the operation through the gateway (a subscription until its first event) and returns what it answered. */
async function run(
  name: string,
  source: string,
  kind: string,
  variables: Record<string, unknown>,
): Promise<{ errors?: unknown[] }> {
  if (kind === 'subscription') {
    const client = sseClient(stack);
    try {
      for await (const event of client.iterate({ query: source, variables, operationName: name })) {
        return event as { errors?: unknown[] };
      }
      throw new Error(`${name} ended without an event`);
    } finally {
      client.dispose();
    }
  }
  const response = await request(stack.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      authorization: `Token ${stack.token}`,
    },
    body: JSON.stringify({ query: source, variables, operationName: name }),
  });
  return (await response.body.json()) as { errors?: unknown[] };
}

describe('the estimate and the calls EPMware receives, for each example operation', () => {
  it('covers every example operation', () => {
    expect(cases.map((each) => each.operation).sort()).toEqual([...operations.keys()].sort());
  });

  for (const { operation, variables, estimate, calls } of cases) {
    it(operation, async () => {
      const found = operations.get(operation);
      if (!found) throw new Error(`no example operation ${operation}`);
      const values = variables();
      const estimated = estimateUpstreamCalls(schema, found.document, values, operation)?.calls;
      const answer = await run(operation, found.source, found.kind, values);
      expect(answer.errors).toBeUndefined();
      const made = apiCalls().length;
      expect({ estimate: estimated, calls: made }).toEqual({ estimate, calls });
      expect(made).toBeLessThanOrEqual(estimated ?? 0);
    });
  }
});
