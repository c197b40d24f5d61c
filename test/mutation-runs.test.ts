/**
 * runDeployment, runExport, runErpImport: one upstream POST with the documented body, the Task's state from
 * get_status (never the submission's "S"), validation before any upstream call, and 409/404/503 mapped, never retried.
 */
import { describe, expect, it } from 'vitest';
import { stackForFile, taskStateEventually } from './harness.ts';

// Tasks take a moment, so "still running" is observable and "eventually done" comes quickly.
const stack = stackForFile({
  simulator: { taskDurationMs: 400 },
  env: { CACHE_TTL_MS: '0', UPSTREAM_RATE_LIMIT_PER_MIN: '100000' },
  logStream: { write: () => {} },
});

interface TaskAnswer {
  taskId: string;
  state?: string;
  status?: string;
  done?: boolean;
}

/** A deployment the simulator's catalog has (named for its typical duration and outcome). */
function deployment(name: string): string {
  expect(stack.sim.fixtures.deploymentNames).toContain(name);
  return name;
}

function apiRequests(path: string) {
  return stack.sim.requests({ path: `/service/api${path}` });
}

async function eventuallyState(taskId: string, wanted: string): Promise<void> {
  expect(await taskStateEventually(stack, taskId, wanted)).toBe(wanted);
}

describe('runDeployment', () => {
  it('POSTs {name, timeout_min} once and answers the task as get_status reports it', async () => {
    // 12 minutes of EPMware time: well inside the 30 given.
    const name = deployment('PLANNING_DEV');
    const answer = await stack.graphql<{ runDeployment: TaskAnswer }>(
      'mutation ($name: String!) { runDeployment(name: $name, timeoutMin: 30) { taskId state status done } }',
      { name },
    );
    expect(answer.errors).toBeUndefined();
    const task = answer.data?.runDeployment;
    const runs = apiRequests('/deployment/run');
    expect(runs).toHaveLength(1);
    expect(runs[0]?.method).toBe('POST');
    expect(runs[0]?.body).toEqual({ name, timeout_min: 30 });
    expect(task?.taskId).toBeTruthy();
    // The submission said "S"; the task itself is still running, and that is what the client sees.
    expect(task?.state).toBe('RUNNING');
    expect(task?.done).toBe(false);
    expect(apiRequests(`/task/get_status/${task?.taskId}`)).toHaveLength(1);
    const execution = stack.sim.state().deploymentExecutions(name)[0];
    expect(execution?.statusMeaning).toMatch(/running|in progress/i);

    await eventuallyState(task?.taskId ?? '', 'SUCCEEDED');
    const latest = await stack.graphql<{ deployment: { latestExecution: { state: string } } }>(
      'query ($name: String!) { deployment(name: $name) { latestExecution { state } } }',
      { name },
    );
    expect(latest.data?.deployment.latestExecution.state).toBe('SUCCEEDED');
  });

  it('sends no timeout_min when none is given, and asks get_status nothing when only the id is selected', async () => {
    const name = deployment('PROD_DAILY');
    const answer = await stack.graphql<{ runDeployment: { taskId: string; id: string } }>(
      'mutation ($name: String!) { runDeployment(name: $name) { taskId id } }',
      { name },
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.runDeployment.taskId).toBeTruthy();
    expect(apiRequests('/deployment/run')[0]?.body).toEqual({ name });
    expect(apiRequests('/task/get_status/*')).toHaveLength(0);
    await eventuallyState(answer.data?.runDeployment.taskId ?? '', 'SUCCEEDED');
  });

  it('a second run while the first is running is CONFLICT with EPMware’s message', async () => {
    const name = deployment('ASOALL');
    const mutation = 'mutation ($name: String!) { runDeployment(name: $name) { taskId } }';
    const first = await stack.graphql<{ runDeployment: TaskAnswer }>(mutation, { name });
    const second = await stack.graphql(mutation, { name });
    expect(second.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(second.errors?.[0]?.message).toMatch(/already in progress/i);
    expect(second.errors?.[0]?.extensions?.upstreamStatus).toBe(409);
    expect(apiRequests('/deployment/run')).toHaveLength(2);
    await eventuallyState(first.data?.runDeployment.taskId ?? '', 'SUCCEEDED');
  });

  it('an unknown deployment is NOT_FOUND', async () => {
    const answer = await stack.graphql('mutation { runDeployment(name: "NO_SUCH_DEPLOYMENT") { taskId } }');
    expect(answer.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(answer.errors?.[0]?.message).toMatch(/NO_SUCH_DEPLOYMENT/);
    expect(apiRequests('/deployment/run')).toHaveLength(1);
  });

  it('503 is UPSTREAM_UNAVAILABLE and leaves exactly one upstream request (a POST is never retried)', async () => {
    stack.sim.setServiceDown('deployment', true);
    try {
      const name = stack.sim.fixtures.deploymentNames[0] ?? '';
      const answer = await stack.graphql('mutation ($n: String!) { runDeployment(name: $n) { taskId } }', {
        n: name,
      });
      expect(answer.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(answer.errors?.[0]?.extensions?.upstreamStatus).toBe(503);
    } finally {
      stack.sim.setServiceDown('deployment', false);
    }
    expect(apiRequests('/deployment/run')).toHaveLength(1);
  });

  it('a connection reset on a run is not retried either', async () => {
    stack.sim.injectFault({ path: '/service/api/deployment/run', reset: true, times: 1 });
    const name = stack.sim.fixtures.deploymentNames[0] ?? '';
    const answer = await stack.graphql('mutation ($n: String!) { runDeployment(name: $n) { taskId } }', {
      n: name,
    });
    expect(answer.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(apiRequests('/deployment/run')).toHaveLength(1);
  });
});

describe('runExport', () => {
  it('runs a profile by name: POST {"name"} once', async () => {
    const name = stack.sim.fixtures.exportNames[0] ?? '';
    const answer = await stack.graphql<{ runExport: TaskAnswer }>(
      'mutation ($name: String) { runExport(name: $name) { taskId state } }',
      { name },
    );
    expect(answer.errors).toBeUndefined();
    const runs = apiRequests('/export/run');
    expect(runs).toHaveLength(1);
    expect(runs[0]?.method).toBe('POST');
    expect(runs[0]?.body).toEqual({ name });
    expect(answer.data?.runExport.state).toBe('RUNNING');
    const taskId = answer.data?.runExport.taskId ?? '';
    await eventuallyState(taskId, 'SUCCEEDED');
    expect(stack.sim.state().exportExecutions(name)[0]?.statusMeaning).toMatch(/success/i);
  });

  it('runs a book by bookName: POST {"book_name"} once', async () => {
    const bookName = stack.sim.fixtures.exportBookNames[0] ?? '';
    const answer = await stack.graphql<{ runExport: TaskAnswer }>(
      'mutation ($bookName: String) { runExport(bookName: $bookName) { taskId } }',
      { bookName },
    );
    expect(answer.errors).toBeUndefined();
    expect(apiRequests('/export/run').map((request) => request.body)).toEqual([{ book_name: bookName }]);
    await eventuallyState(answer.data?.runExport.taskId ?? '', 'SUCCEEDED');
  });

  it('an unknown export is NOT_FOUND', async () => {
    const answer = await stack.graphql('mutation { runExport(name: "NO_SUCH_EXPORT") { taskId } }');
    expect(answer.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});

describe('runErpImport', () => {
  it('POSTs {name, timeout_min} to erp/run once', async () => {
    const name = stack.sim.fixtures.erpConfigNames[0] ?? '';
    const answer = await stack.graphql<{ runErpImport: TaskAnswer }>(
      'mutation ($name: String!) { runErpImport(name: $name, timeoutMin: 90) { taskId state } }',
      { name },
    );
    expect(answer.errors).toBeUndefined();
    const runs = apiRequests('/erp/run');
    expect(runs).toHaveLength(1);
    expect(runs[0]?.method).toBe('POST');
    expect(runs[0]?.body).toEqual({ name, timeout_min: 90 });
    expect(answer.data?.runErpImport.state).toBe('RUNNING');
    await eventuallyState(answer.data?.runErpImport.taskId ?? '', 'SUCCEEDED');
  });

  it('a configuration that fails shows FAILED from get_status, though the submission said "S"', async () => {
    const name = stack.sim.fixtures.failingErpConfigName;
    const answer = await stack.graphql<{ runErpImport: TaskAnswer }>(
      'mutation ($name: String!) { runErpImport(name: $name) { taskId } }',
      { name },
    );
    expect(answer.errors).toBeUndefined();
    await eventuallyState(answer.data?.runErpImport.taskId ?? '', 'FAILED');
  });
});

describe('validation: BAD_USER_INPUT and no upstream request', () => {
  const cases: Array<[string, string]> = [
    ['blank deployment name', 'mutation { runDeployment(name: "  ") { taskId } }'],
    ['timeoutMin 0', 'mutation { runDeployment(name: "ASOALL", timeoutMin: 0) { taskId } }'],
    ['timeoutMin above a day', 'mutation { runDeployment(name: "ASOALL", timeoutMin: 1441) { taskId } }'],
    ['negative timeoutMin', 'mutation { runErpImport(name: "X", timeoutMin: -5) { taskId } }'],
    ['blank ERP name', 'mutation { runErpImport(name: "") { taskId } }'],
    ['neither name nor bookName', 'mutation { runExport { taskId } }'],
    ['both name and bookName', 'mutation { runExport(name: "A", bookName: "B") { taskId } }'],
    ['blank export name', 'mutation { runExport(name: " ") { taskId } }'],
  ];
  it.each(cases)('%s', async (_label, mutation) => {
    const answer = await stack.graphql(mutation);
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(stack.sim.requests()).toHaveLength(0);
  });
});

it('without a token a run is UNAUTHENTICATED and nothing reaches EPMware', async () => {
  const answer = await stack.graphql('mutation { runDeployment(name: "ASOALL") { taskId } }', undefined, {
    token: null,
  });
  expect(answer.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  expect(stack.sim.requests()).toHaveLength(0);
});
