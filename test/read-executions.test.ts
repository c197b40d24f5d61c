/**
 * Deployments and exports: execution histories against the simulator's, the statusMeaning mapping, NOT_FOUND
 * for an unknown name with sibling data intact, global ids, and the bounded fan-out.
 */
import { describe, expect, it } from 'vitest';
import type { UpstreamDeploymentExecution, UpstreamExportExecution } from '../src/simulator/index.ts';
import { COUNTED_UPSTREAM, stackForFile } from './harness.ts';

const stack = stackForFile(COUNTED_UPSTREAM);

const apiCalls = () => stack.sim.requests({ path: '/service/api/*' });
const globalId = (type: string, name: string, id: string) =>
  Buffer.from(`${type}:${JSON.stringify([name, id])}`).toString('base64');

/** The contract's mapping, written out independently of the gateway's. */
function expectedState(statusMeaning: string): string {
  const status = statusMeaning.toLowerCase();
  if (status === 'success') return 'SUCCEEDED';
  if (status === 'error' || status === 'failed') return 'FAILED';
  if (status === 'running' || status === 'in progress') return 'RUNNING';
  if (status === 'cancelled' || status === 'canceled') return 'CANCELLED';
  return 'UNKNOWN';
}

const iso = (date: string | null) => (date === null ? null : new Date(date).toISOString());
const seconds = (row: { startDate: string | null; endDate: string | null }) =>
  row.startDate && row.endDate ? (Date.parse(row.endDate) - Date.parse(row.startDate)) / 1000 : null;

function expectedDeployment(row: UpstreamDeploymentExecution) {
  return {
    id: globalId('DeploymentExecution', row.deploymentName, row.id),
    executionId: row.id,
    name: row.deploymentName,
    startedAt: iso(row.startDate),
    endedAt: iso(row.endDate),
    durationSeconds: seconds(row),
    status: row.statusMeaning,
    state: expectedState(row.statusMeaning),
  };
}

function expectedExport(row: UpstreamExportExecution) {
  return {
    id: globalId('ExportExecution', row.exportName, row.id),
    executionId: row.id,
    name: row.exportName,
    startedAt: iso(row.startDate),
    endedAt: iso(row.endDate),
    durationSeconds: seconds(row),
    status: row.statusMeaning,
    state: expectedState(row.statusMeaning),
    outputFileName: row.outputFileName,
    outputFileSizeBytes: row.outputFileSize === null ? null : Number(row.outputFileSize),
  };
}

const EXECUTION = 'id executionId name startedAt endedAt durationSeconds status state';

interface Configuration<E> {
  name: string;
  executions: E[] | null;
  latestExecution: E | null;
}

describe('deployments', () => {
  it('answers every execution field as EPMware has it; an unknown name is NOT_FOUND there alone', async () => {
    const names = [...stack.sim.fixtures.deploymentNames, 'NO_SUCH_DEPLOYMENT'];
    const result = await stack.graphql<{ deployments: Array<Configuration<Record<string, unknown>>> }>(
      `query($names: [String!]!) { deployments(names: $names) {
        name executions { ${EXECUTION} } latestExecution { ${EXECUTION} } } }`,
      { names },
    );
    const state = stack.sim.state();
    const deployments = result.data?.deployments ?? [];
    expect(deployments.map((d) => d.name)).toEqual(names);
    const states = new Set<unknown>();
    for (const deployment of deployments.slice(0, -1)) {
      const history = state.deploymentExecutions(deployment.name);
      expect(history.length, deployment.name).toBeGreaterThan(0);
      expect(deployment.executions).toEqual(history.map(expectedDeployment));
      expect(deployment.latestExecution).toEqual(
        expectedDeployment(history[0] as UpstreamDeploymentExecution),
      );
      for (const execution of deployment.executions ?? []) states.add(execution.state);
    }
    // The simulator's histories hold every spelling: all four known states show up.
    expect(states).toEqual(new Set(['SUCCEEDED', 'FAILED', 'RUNNING', 'CANCELLED']));
    expect(deployments.at(-1)).toEqual({
      name: 'NO_SUCH_DEPLOYMENT',
      executions: null,
      latestExecution: null,
    });
    const last = names.length - 1;
    expect(result.errors?.map((error) => [error.path, error.extensions?.code]).sort()).toEqual([
      [['deployments', last, 'executions'], 'NOT_FOUND'],
      [['deployments', last, 'latestExecution'], 'NOT_FOUND'],
    ]);
    // One history and one latest_only call per name; EPMware's latest_only=Y is asked, not guessed.
    expect(apiCalls()).toHaveLength(names.length * 2);
    expect(new Set(apiCalls().map((call) => call.query.latest_only))).toEqual(new Set(['Y', 'N']));
  });

  it('deployment(name) costs nothing by itself; latestOnly keeps only the latest', async () => {
    const [name] = stack.sim.fixtures.deploymentNames as [string];
    const bare = await stack.graphql(`query($n: String!) { deployment(name: $n) { name } }`, { n: name });
    expect(bare.data).toEqual({ deployment: { name } });
    expect(apiCalls()).toHaveLength(0);
    const latest = await stack.graphql<{ deployment: Configuration<{ executionId: string }> }>(
      `query($n: String!) { deployment(name: $n) { executions(latestOnly: true) { executionId } } }`,
      { n: name },
    );
    expect(latest.data?.deployment.executions).toEqual([
      { executionId: stack.sim.state().deploymentExecutions(name)[0]?.id },
    ]);
    expect(apiCalls().map((call) => call.query)).toEqual([{ name, latest_only: 'Y' }]);
  });

  it('rejects a blank name and too many names before calling EPMware', async () => {
    const blank = await stack.graphql(`{ deployment(name: " ") { name } }`);
    expect(blank.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const many = await stack.graphql(`query($n: [String!]!) { exports(names: $n) { name } }`, {
      n: Array.from({ length: 101 }, (_, i) => `E${i}`),
    });
    expect(many.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(apiCalls()).toHaveLength(0);
  });

  it('fans out many names concurrently, at most 8 at a time', async () => {
    // Each history call is held 600 ms upstream: eight start together, the ninth only once one has answered.
    stack.sim.injectFault({ path: '/service/api/deployment/get_execution_details', delayMs: 600 });
    const names = Array.from(
      { length: 12 },
      (_, i) => stack.sim.fixtures.deploymentNames[i] ?? `MISSING_${i}`,
    );
    await stack.graphql(`query($n: [String!]!) { deployments(names: $n) { latestExecution { state } } }`, {
      n: names,
    });
    const arrivals = apiCalls()
      .map((call) => call.at)
      .sort((a, b) => a - b);
    expect(arrivals).toHaveLength(12);
    const first = arrivals[0] as number;
    expect((arrivals[7] as number) - first).toBeLessThan(500);
    expect((arrivals[8] as number) - first).toBeGreaterThanOrEqual(550);
  });
});

describe('exports', () => {
  it('answers export executions, file name and size (a number or a numeric string upstream)', async () => {
    const names = [...stack.sim.fixtures.exportNames, ...stack.sim.fixtures.exportBookNames];
    const result = await stack.graphql<{ exports: Array<Configuration<Record<string, unknown>>> }>(
      `query($names: [String!]!) { exports(names: $names) {
        name executions { ${EXECUTION} outputFileName outputFileSizeBytes }
        latestExecution { ${EXECUTION} outputFileName outputFileSizeBytes } } }`,
      { names },
    );
    expect(result.errors).toBeUndefined();
    const state = stack.sim.state();
    const kinds = new Set<string>();
    for (const exported of result.data?.exports ?? []) {
      const history = state.exportExecutions(exported.name);
      expect(exported.executions).toEqual(history.map(expectedExport));
      expect(exported.latestExecution).toEqual(expectedExport(history[0] as UpstreamExportExecution));
      for (const row of history) kinds.add(row.outputFileSize === null ? 'null' : typeof row.outputFileSize);
    }
    expect(kinds).toEqual(new Set(['number', 'string', 'null']));
  });
});

describe('node(id) for executions', () => {
  it('finds a deployment or export execution by its global id; null when it does not exist', async () => {
    const [deployment] = stack.sim.fixtures.deploymentNames as [string];
    const [exported] = stack.sim.fixtures.exportNames as [string];
    const state = stack.sim.state();
    const deploymentRow = state.deploymentExecutions(deployment)[2] as UpstreamDeploymentExecution;
    const exportRow = state.exportExecutions(exported)[1] as UpstreamExportExecution;
    const result = await stack.graphql(
      `query($d: ID!, $e: ID!, $gone: ID!, $unknown: ID!) {
        d: node(id: $d) { ... on Execution { ${EXECUTION} } }
        e: node(id: $e) { ... on ExportExecution { ${EXECUTION} outputFileName outputFileSizeBytes } }
        gone: node(id: $gone) { id }
        unknown: node(id: $unknown) { id }
      }`,
      {
        d: globalId('DeploymentExecution', deployment, deploymentRow.id),
        e: globalId('ExportExecution', exported, exportRow.id),
        gone: globalId('DeploymentExecution', deployment, '1'),
        unknown: globalId('ExportExecution', 'NO_SUCH_EXPORT', '1'),
      },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      d: expectedDeployment(deploymentRow),
      e: expectedExport(exportRow),
      gone: null,
      unknown: null,
    });
    const malformed = await stack.graphql(`query($id: ID!) { node(id: $id) { id } }`, {
      id: Buffer.from('DeploymentExecution:not-json').toString('base64'),
    });
    expect(malformed.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
