/** task(taskId) and Task global ids: every field against the simulator's task, null for an unknown one. */
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { stackForFile } from './harness.ts';

// An hour-long task duration keeps the running fixture running (and its percentage still) during the test.
const stack = stackForFile({
  simulator: { taskDurationMs: 3_600_000 },
  env: { CACHE_TTL_MS: '0', UPSTREAM_RATE_LIMIT_PER_MIN: '100000' },
});

const apiCalls = () => stack.sim.requests({ path: '/service/api/*' });
const TASK = 'id taskId state status percentCompleted message done downloadUrl';

async function upstreamLog(taskId: string): Promise<string> {
  const response = await request(`${stack.sim.url}/service/api/task/get_log_file/${taskId}`, {
    headers: { authorization: `Token ${stack.token}` },
  });
  return response.body.text();
}

describe('task(taskId)', () => {
  it('answers every field from get_status, state mapped from the status code', async () => {
    const { succeededTaskId, failedTaskId, runningTaskId } = stack.sim.fixtures;
    const result = await stack.graphql<Record<string, Record<string, unknown>>>(
      `query($s: ID!, $f: ID!, $r: ID!) {
        s: task(taskId: $s) { ${TASK} } f: task(taskId: $f) { ${TASK} } r: task(taskId: $r) { ${TASK} }
      }`,
      { s: succeededTaskId, f: failedTaskId, r: runningTaskId },
    );
    expect(result.errors).toBeUndefined();
    const expectedState = { S: 'SUCCEEDED', E: 'FAILED', R: 'RUNNING', P: 'RUNNING' } as const;
    for (const [alias, taskId] of [
      ['s', succeededTaskId],
      ['f', failedTaskId],
      ['r', runningTaskId],
    ] as const) {
      const task = stack.sim.state().task(taskId);
      if (!task) throw new Error(`no task ${taskId}`);
      expect(result.data?.[alias]).toEqual({
        id: Buffer.from(`Task:${taskId}`).toString('base64'),
        taskId,
        state: expectedState[task.status],
        status: task.status,
        percentCompleted: Number(task.percentCompleted),
        message: task.message,
        done: task.status === 'S' || task.status === 'E',
        downloadUrl: `${stack.origin}/exports/${taskId}/file`,
      });
    }
    expect(result.data?.r?.state).toBe('RUNNING');
    expect(result.data?.f?.state).toBe('FAILED');
    // Three tasks, three get_status calls made together.
    expect(
      apiCalls()
        .map((call) => call.path)
        .sort(),
    ).toEqual(
      [succeededTaskId, failedTaskId, runningTaskId].map((id) => `/service/api/task/get_status/${id}`).sort(),
    );
  });

  it('the same task named twice costs one call', async () => {
    const { succeededTaskId } = stack.sim.fixtures;
    const result = await stack.graphql(
      `query($id: ID!) { a: task(taskId: $id) { state } b: task(taskId: $id) { status } }`,
      {
        id: succeededTaskId,
      },
    );
    expect(result.data).toEqual({ a: { state: 'SUCCEEDED' }, b: { status: 'S' } });
    expect(apiCalls()).toHaveLength(1);
  });

  it('log(tailLines) keeps the last lines of get_log_file; a negative count is BAD_USER_INPUT', async () => {
    const { succeededTaskId } = stack.sim.fixtures;
    const log = await upstreamLog(succeededTaskId);
    stack.sim.clearRequests();
    const result = await stack.graphql<{ task: { all: string; tail: string; none: string } }>(
      `query($id: ID!) { task(taskId: $id) { all: log tail: log(tailLines: 2) none: log(tailLines: 0) } }`,
      { id: succeededTaskId },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.task.all).toBe(log);
    expect(result.data?.task.tail).toBe(log.replace(/\n$/, '').split('\n').slice(-2).join('\n'));
    expect(result.data?.task.none).toBe('');
    stack.sim.clearRequests();
    const negative = await stack.graphql(`query($id: ID!) { task(taskId: $id) { log(tailLines: -1) } }`, {
      id: succeededTaskId,
    });
    expect(negative.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(apiCalls().filter((call) => call.path.includes('get_log_file'))).toHaveLength(0);
  });

  it('is null for a task EPMware does not know; a blank id is BAD_USER_INPUT before any call', async () => {
    const unknown = await stack.graphql(`{ task(taskId: "999999999") { state } }`);
    expect(unknown).toMatchObject({ data: { task: null } });
    expect(unknown.errors).toBeUndefined();
    stack.sim.clearRequests();
    const blank = await stack.graphql(`{ task(taskId: " ") { state } }`);
    expect(blank.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(apiCalls()).toHaveLength(0);
  });

  it('an upstream failure is the field’s error with the contract code; siblings keep their data', async () => {
    const { succeededTaskId, failedTaskId } = stack.sim.fixtures;
    stack.sim.injectFault({
      path: `/service/api/task/get_status/${failedTaskId}`,
      status: 503,
      message: 'Down',
    });
    const result = await stack.graphql(
      `query($s: ID!, $f: ID!) { s: task(taskId: $s) { state } f: task(taskId: $f) { state } }`,
      {
        s: succeededTaskId,
        f: failedTaskId,
      },
    );
    expect(result.data).toEqual({ s: { state: 'SUCCEEDED' }, f: null });
    expect(result.errors?.[0]).toMatchObject({ path: ['f'], extensions: { code: 'UPSTREAM_UNAVAILABLE' } });
  });
});

describe('node(id) for tasks', () => {
  it('resolves a Task id; null for a task EPMware does not know', async () => {
    const { exportTaskId } = stack.sim.fixtures;
    const id = Buffer.from(`Task:${exportTaskId}`).toString('base64');
    const result = await stack.graphql(
      `query($id: ID!, $gone: ID!) {
      node(id: $id) { id ... on Task { taskId state } } gone: node(id: $gone) { id } }`,
      {
        id,
        gone: Buffer.from('Task:999999999').toString('base64'),
      },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ node: { id, taskId: exportTaskId, state: 'SUCCEEDED' }, gone: null });
  });
});
