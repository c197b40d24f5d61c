// The simulator's task, deployment, ERP and export modules, and rate limiting, over real HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { RateLimiter } from '../src/simulator/rate-limit.ts';
import type {
  UpstreamDeploymentExecutionDetails,
  UpstreamExportExecutionDetails,
  UpstreamTaskStatus,
  UpstreamTaskSubmitted,
} from '../src/simulator/types.ts';

const TASK_MS = 600;
let sim: Simulator;

interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

async function call(method: string, path: string, json?: unknown, token?: string): Promise<CallResult> {
  const headers: Record<string, string> = { authorization: `Token ${token ?? sim.tokens.primary}` };
  if (json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${sim.url}/service/api${path}`, {
    method,
    headers,
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, json: parsed };
}

function expectError(r: CallResult, status: number, message?: string | RegExp): void {
  expect(r.status).toBe(status);
  const body = r.json as { status: string; message: string };
  expect(body.status).toBe('E');
  if (typeof message === 'string') expect(body.message).toBe(message);
  else if (message) expect(body.message).toMatch(message);
}

const status = async (taskId: string, token?: string): Promise<UpstreamTaskStatus> =>
  (await call('GET', `/task/get_status/${taskId}`, undefined, token)).json as UpstreamTaskStatus;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until the task is terminal, returning every status seen. */
async function pollToEnd(taskId: string): Promise<UpstreamTaskStatus[]> {
  const seen: UpstreamTaskStatus[] = [];
  for (let i = 0; i < 200; i++) {
    const s = await status(taskId);
    seen.push(s);
    if (s.status === 'S' || s.status === 'E') return seen;
    await sleep(25);
  }
  throw new Error(`task ${taskId} did not finish`);
}

async function submit(path: string, body: unknown): Promise<string> {
  const r = await call('POST', path, body);
  expect(r.status).toBe(200);
  return (r.json as UpstreamTaskSubmitted).taskId;
}

beforeAll(async () => {
  sim = await startSimulator({ rateLimits: 'relaxed', taskDurationMs: TASK_MS, exportFileBytes: 300_000 });
});

afterAll(async () => {
  await sim.close();
});

describe('task module', () => {
  it('reports the fixtures: succeeded, failed and running tasks', async () => {
    expect(await status(sim.fixtures.succeededTaskId)).toEqual({
      taskId: sim.fixtures.succeededTaskId,
      status: 'S',
      percentCompleted: '100',
      message: 'Task completed successfully',
    });
    const failed = await status(sim.fixtures.failedTaskId);
    expect(failed.status).toBe('E');
    expect(Number(failed.percentCompleted)).toBeLessThan(100);
    expect(failed.message).toMatch(/HFM_PROD/);
    const running = await status(sim.fixtures.runningTaskId);
    expect(['R', 'S']).toContain(running.status);
    expect(typeof running.percentCompleted).toBe('string');
    expect(Number(sim.fixtures.succeededTaskId)).toBeGreaterThanOrEqual(244600);
  });

  it("answers 404 for an unknown task and for another tenant's task", async () => {
    expectError(await call('GET', '/task/get_status/999999'), 404);
    expectError(await call('GET', '/task/get_log_file/999999'), 404);
    const r = await call(
      'GET',
      `/task/get_status/${sim.fixtures.succeededTaskId}`,
      undefined,
      sim.tokens.secondary,
    );
    expectError(r, 404);
    const log = await call(
      'GET',
      `/task/get_log_file/${sim.fixtures.succeededTaskId}`,
      undefined,
      sim.tokens.secondary,
    );
    expectError(log, 404);
  });

  it('progresses a run P -> R -> S with string percentages that never decrease, and a growing log', async () => {
    const taskId = await submit('/deployment/run', { name: 'PLANNING_DEV', timeout_min: 60 });
    expect(Number(taskId)).toBeGreaterThan(Number(sim.fixtures.expiredExportTaskId));
    const logs: string[] = [];
    const seen: UpstreamTaskStatus[] = [];
    for (let i = 0; i < 200; i++) {
      const s = await status(taskId);
      seen.push(s);
      const log = await call('GET', `/task/get_log_file/${taskId}`);
      expect(log.status).toBe(200);
      expect(log.headers.get('content-type')).toMatch(/^text\/plain/);
      logs.push(log.text);
      if (s.status === 'S') break;
      await sleep(20);
    }
    const percents = seen.map((s) => {
      expect(typeof s.percentCompleted).toBe('string');
      return Number(s.percentCompleted);
    });
    for (let i = 1; i < percents.length; i++)
      expect(percents[i]).toBeGreaterThanOrEqual(percents[i - 1] ?? 0);
    expect(
      seen.some(
        (s) => s.status === 'R' && Number(s.percentCompleted) > 0 && Number(s.percentCompleted) < 100,
      ),
    ).toBe(true);
    expect(seen.at(-1)).toEqual({
      taskId,
      status: 'S',
      percentCompleted: '100',
      message: 'Task completed successfully',
    });
    const lineCounts = logs.map((l) => l.trim().split('\n').length);
    for (let i = 1; i < lineCounts.length; i++)
      expect(lineCounts[i]).toBeGreaterThanOrEqual(lineCounts[i - 1] ?? 0);
    const finalLog = logs.at(-1) ?? '';
    expect(lineCounts.at(-1)).toBeGreaterThan(lineCounts[0] ?? 0);
    for (const line of finalLog.trim().split('\n'))
      expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
    expect(finalLog.trim().split('\n').at(-1)).toMatch(/completed successfully/);
  });

  it('starts pending (P, "0"), and a fresh simulator has a running fixture that blocks its deployment', async () => {
    const slow = await startSimulator({ rateLimits: 'relaxed' });
    try {
      const get = async (path: string, init?: RequestInit): Promise<unknown> => {
        const res = await fetch(`${slow.url}/service/api${path}`, {
          ...init,
          headers: { authorization: `Token ${slow.tokens.primary}`, 'content-type': 'application/json' },
        });
        return res.json();
      };
      const running = (await get(`/task/get_status/${slow.fixtures.runningTaskId}`)) as UpstreamTaskStatus;
      expect(running.status).toBe('R');
      expect(Number(running.percentCompleted)).toBeGreaterThan(0);
      expect(Number(running.percentCompleted)).toBeLessThan(100);
      const weekly = (await get(
        '/deployment/get_execution_details?name=PROD_WEEKLY',
      )) as UpstreamDeploymentExecutionDetails;
      expect(weekly.vEWVDeploymentExecutions[0]).toMatchObject({ statusMeaning: 'Running', endDate: null });
      const blocked = (await get('/deployment/run', { method: 'POST', body: '{"name":"PROD_WEEKLY"}' })) as {
        message: string;
      };
      expect(blocked.message).toBe("Deployment 'PROD_WEEKLY' is already in progress");
      const { taskId } = (await get('/deployment/run', {
        method: 'POST',
        body: '{"name":"ASOALL"}',
      })) as UpstreamTaskSubmitted;
      expect(await get(`/task/get_status/${taskId}`)).toEqual({
        taskId,
        status: 'P',
        percentCompleted: '0',
        message: expect.any(String),
      });
      expect(slow.state().task(taskId)?.status).toBe('P');
    } finally {
      await slow.close();
    }
  });

  it('ends the failing deployment in E with a message, keeping the percent where it failed', async () => {
    const taskId = await submit('/deployment/run', { name: sim.fixtures.failingDeploymentName });
    const seen = await pollToEnd(taskId);
    const last = seen.at(-1);
    expect(last?.status).toBe('E');
    expect(last?.message).toMatch(/failed/);
    expect(Number(last?.percentCompleted)).toBeLessThan(100);
    expect(Number(last?.percentCompleted)).toBeGreaterThanOrEqual(
      Math.max(...seen.map((s) => Number(s.percentCompleted))),
    );
    const log = (await call('GET', `/task/get_log_file/${taskId}`)).text;
    expect(log.trim().split('\n').at(-1)).toContain('ERROR');
  });

  it('ends a running task at once when a test calls finishTask, and refuses an unknown id', async () => {
    sim.configure({ taskDurationMs: 600_000 });
    try {
      const taskId = await submit('/deployment/run', { name: 'PLANNING_DEV', timeout_min: 60 });
      expect((await status(taskId)).status).toBe('P');
      sim.finishTask(taskId);
      expect(await status(taskId)).toMatchObject({ status: 'S', percentCompleted: '100' });
    } finally {
      sim.configure({ taskDurationMs: TASK_MS });
    }
    expect(() => sim.finishTask('no-such-task')).toThrow(/no-such-task/);
  });

  it('ends a run that exceeds timeout_min in E with a timeout message', async () => {
    const taskId = await submit('/deployment/run', { name: 'ASOALL', timeout_min: 5 });
    const last = (await pollToEnd(taskId)).at(-1);
    expect(last?.status).toBe('E');
    expect(last?.message).toMatch(/timeout|did not complete/i);
  });
});

describe('deployment module', () => {
  it('validates the run request', async () => {
    expectError(await call('POST', '/deployment/run', {}), 400, /name/);
    expectError(await call('POST', '/deployment/run', { name: 42 }), 400, /name/);
    for (const timeout_min of [0, -1, 1.5, '60', null]) {
      expectError(await call('POST', '/deployment/run', { name: 'ASOALL', timeout_min }), 400, /timeout_min/);
    }
    expectError(
      await call('POST', '/deployment/run', { name: 'INVALID_NAME' }),
      404,
      "Deployment configuration 'INVALID_NAME' not found",
    );
  });

  it('answers 409 while a run of that name is in progress, and records it in the history', async () => {
    const taskId = await submit('/deployment/run', { name: 'PROD_DAILY', timeout_min: 60 });
    expectError(
      await call('POST', '/deployment/run', { name: 'PROD_DAILY' }),
      409,
      "Deployment 'PROD_DAILY' is already in progress",
    );
    const running = (await call('GET', '/deployment/get_execution_details?name=PROD_DAILY'))
      .json as UpstreamDeploymentExecutionDetails;
    expect(running.vEWVDeploymentExecutions).toHaveLength(1);
    expect(running.vEWVDeploymentExecutions[0]).toMatchObject({
      deploymentName: 'PROD_DAILY',
      statusMeaning: 'Running',
      endDate: null,
    });
    await pollToEnd(taskId);
    const done = (await call('GET', '/deployment/get_execution_details?name=PROD_DAILY&latest_only=Y'))
      .json as UpstreamDeploymentExecutionDetails;
    expect(done.vEWVDeploymentExecutions[0]).toMatchObject({
      statusMeaning: 'Success',
      endDate: expect.stringMatching(/Z$/),
    });
    expect(done.vEWVDeploymentExecutions[0]?.id).toBe(running.vEWVDeploymentExecutions[0]?.id);
    expect((await call('POST', '/deployment/run', { name: 'PROD_DAILY' })).status).toBe(200);
  });

  it('returns the latest or the whole history, newest first, with the oddities real data has', async () => {
    const latest = await call('GET', '/deployment/get_execution_details?name=ASOALL');
    expect(latest.status).toBe(200);
    const one = (latest.json as UpstreamDeploymentExecutionDetails).vEWVDeploymentExecutions;
    expect(one).toHaveLength(1);
    expect(Object.keys(one[0] ?? {}).sort()).toEqual([
      'deploymentName',
      'endDate',
      'id',
      'startDate',
      'statusMeaning',
    ]);
    const all = (
      (await call('GET', '/deployment/get_execution_details?name=asoall&latest_only=N'))
        .json as UpstreamDeploymentExecutionDetails
    ).vEWVDeploymentExecutions;
    expect(all.length).toBeGreaterThan(3);
    expect(all[0]).toEqual(one[0]);
    const starts = all.map((e) => Date.parse(e.startDate ?? ''));
    for (let i = 1; i < starts.length; i++) expect(starts[i]).toBeLessThanOrEqual(starts[i - 1] ?? 0);
    const every = sim.fixtures.deploymentNames.flatMap((name) => sim.state().deploymentExecutions(name));
    const meanings = new Set(every.map((e) => e.statusMeaning));
    for (const m of ['Success', 'SUCCESS', 'Error', 'Failed', 'Cancelled', 'In Progress'])
      expect(meanings).toContain(m);
    expect(every.some((e) => e.startDate?.endsWith('+00:00'))).toBe(true);
    expect(every.some((e) => e.startDate?.endsWith('Z'))).toBe(true);
    expectError(await call('GET', '/deployment/get_execution_details'), 400);
    expectError(await call('GET', '/deployment/get_execution_details?name=NOPE'), 404);
    expectError(await call('GET', '/deployment/get_execution_details?name=ASOALL&latest_only=maybe'), 400);
  });

  it('answers 503 while the Deployment Service is down', async () => {
    sim.setServiceDown('deployment', true);
    try {
      expectError(
        await call('POST', '/deployment/run', { name: 'ASOALL' }),
        503,
        'Deployment Service is not running',
      );
    } finally {
      sim.setServiceDown('deployment', false);
    }
  });
});

describe('ERP module', () => {
  it('runs an import to S, the failing one to E; 400, 404, 409 and 503 as documented', async () => {
    const ok = await call('POST', '/erp/run', { name: 'ASOALL_Account', timeout_min: 60 });
    expect(ok.status).toBe(200);
    const okId = (ok.json as UpstreamTaskSubmitted).taskId;
    expect(ok.json).toEqual({ status: 'S', taskId: expect.stringMatching(/^\d+$/) });
    expectError(
      await call('POST', '/erp/run', { name: 'asoall_account' }),
      409,
      "ERP Import 'ASOALL_Account' is already in progress",
    );
    const failId = await submit('/erp/run', { name: sim.fixtures.failingErpConfigName });
    expect((await pollToEnd(okId)).at(-1)?.status).toBe('S');
    const failed = (await pollToEnd(failId)).at(-1);
    expect(failed?.status).toBe('E');
    expect(failed?.message).toContain(sim.fixtures.failingErpConfigName);
    expectError(
      await call('POST', '/erp/run', { name: 'Nope' }),
      404,
      "ERP Import configuration 'Nope' not found",
    );
    expectError(await call('POST', '/erp/run', { timeout_min: 5 }), 400);
    sim.setServiceDown('erp', true);
    try {
      expectError(await call('POST', '/erp/run', { name: 'ASOALL_Entity' }), 503);
    } finally {
      sim.setServiceDown('erp', false);
    }
  });
});

describe('export module', () => {
  it('runs a profile or a book; 400 unless exactly one is given; 404 and 409 as documented', async () => {
    const r = await call('POST', '/export/run', { name: 'ESSBASE_OUTLINE' });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      status: 'S',
      taskId: expect.stringMatching(/^\d+$/),
      message: 'Task submitted successfully',
    });
    expectError(
      await call('POST', '/export/run', { name: 'ESSBASE_OUTLINE' }),
      409,
      "Export 'ESSBASE_OUTLINE' is already in progress",
    );
    const book = await call('POST', '/export/run', { book_name: 'PBCS_BOOK' });
    expect(book.status).toBe(200);
    expectError(await call('POST', '/export/run', {}), 400);
    expectError(await call('POST', '/export/run', { name: 'PBCS', book_name: 'PBCS_BOOK' }), 400);
    expectError(await call('POST', '/export/run', { name: 'NOPE' }), 404);
    expectError(await call('POST', '/export/run', { name: 'MONTH_END_BOOK' }), 404);
    expectError(await call('POST', '/export/run', { book_name: 'NOPE_BOOK' }), 404);
    sim.setServiceDown('export', true);
    try {
      expectError(await call('POST', '/export/run', { name: 'PBCS' }), 503);
    } finally {
      sim.setServiceDown('export', false);
    }
  });

  it('downloads a finished export: bytes, headers, deterministic content', async () => {
    const taskId = await submit('/export/run', { name: 'FCCS_METADATA' });
    expectError(await call('GET', `/export/download_file/${taskId}`), 404, 'File not found');
    expect((await pollToEnd(taskId)).at(-1)?.status).toBe('S');
    const download = async (): Promise<{ res: Response; bytes: Buffer }> => {
      const res = await fetch(`${sim.url}/service/api/export/download_file/${taskId}`, {
        headers: { authorization: `Token ${sim.tokens.primary}` },
      });
      return { res, bytes: Buffer.from(await res.arrayBuffer()) };
    };
    const a = await download();
    expect(a.res.status).toBe(200);
    expect(a.res.headers.get('content-type')).toMatch(/^(text\/csv|application\/octet-stream)/);
    expect(a.res.headers.get('content-disposition')).toBe('attachment; filename="FCCS_METADATA_export.csv"');
    expect(a.res.headers.get('content-length')).toBe('300000');
    expect(a.bytes.length).toBe(300_000);
    expect(a.bytes.subarray(0, 20).toString()).toMatch(/^[A-Za-z]+,/);
    const b = await download();
    expect(b.bytes.equals(a.bytes)).toBe(true);
    const row = (await call('GET', '/export/get_execution_details?name=FCCS_METADATA'))
      .json as UpstreamExportExecutionDetails;
    expect(row.vEWVExportExecutions[0]).toMatchObject({
      exportName: 'FCCS_METADATA',
      statusMeaning: 'Success',
      outputFileName: 'FCCS_METADATA_export.csv',
      outputFileSize: 300_000,
    });
    sim.expireExportFile(taskId);
    expectError(await call('GET', `/export/download_file/${taskId}`), 410, 'Export file has expired');
  });

  it('serves the export fixture, 410 for the expired fixture, 404 for unknown and non-export tasks', async () => {
    const res = await fetch(`${sim.url}/service/api/export/download_file/${sim.fixtures.exportTaskId}`, {
      headers: { authorization: `Token ${sim.tokens.primary}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="PBCS_export.csv"');
    expect((await res.arrayBuffer()).byteLength).toBe(300_000);
    expectError(
      await call('GET', `/export/download_file/${sim.fixtures.expiredExportTaskId}`),
      410,
      'Export file has expired',
    );
    expectError(await call('GET', '/export/download_file/123'), 404, 'File not found');
    expectError(
      await call('GET', `/export/download_file/${sim.fixtures.succeededTaskId}`),
      404,
      'File not found',
    );
    const other = await call(
      'GET',
      `/export/download_file/${sim.fixtures.exportTaskId}`,
      undefined,
      sim.tokens.secondary,
    );
    expectError(other, 404);
    expect(() => sim.expireExportFile(sim.fixtures.succeededTaskId)).toThrow();
  });

  it('returns export histories with the documented fields and their oddities', async () => {
    const latest = (await call('GET', '/export/get_execution_details?name=PBCS'))
      .json as UpstreamExportExecutionDetails;
    expect(latest.vEWVExportExecutions).toHaveLength(1);
    expect(Object.keys(latest.vEWVExportExecutions[0] ?? {}).sort()).toEqual([
      'endDate',
      'exportName',
      'id',
      'outputFileName',
      'outputFileSize',
      'startDate',
      'statusMeaning',
    ]);
    const all = [...sim.fixtures.exportNames, ...sim.fixtures.exportBookNames].flatMap((n) =>
      sim.state().exportExecutions(n),
    );
    expect(all.some((e) => typeof e.outputFileSize === 'string' && /^\d+$/.test(e.outputFileSize))).toBe(
      true,
    );
    expect(all.some((e) => typeof e.outputFileSize === 'number')).toBe(true);
    expect(all.some((e) => e.outputFileSize === null && /error|failed/i.test(e.statusMeaning))).toBe(true);
    const history = (await call('GET', '/export/get_execution_details?name=PBCS_BOOK&latest_only=N'))
      .json as UpstreamExportExecutionDetails;
    expect(history.vEWVExportExecutions.length).toBeGreaterThanOrEqual(3);
    expectError(await call('GET', '/export/get_execution_details'), 400);
    expectError(await call('GET', '/export/get_execution_details?name=NOPE'), 404);
  });
});

describe('rate limits', () => {
  it('uses a sliding 60 s window', () => {
    const limiter = new RateLimiter({ standard: 2, upload: 1, bulk: 1 });
    expect(limiter.check('t', 'standard', 0).allowed).toBe(true);
    expect(limiter.check('t', 'standard', 30_000).allowed).toBe(true);
    expect(limiter.check('t', 'standard', 40_000)).toEqual({
      allowed: false,
      retryAfterSeconds: 20,
      limit: 2,
    });
    expect(limiter.check('t', 'standard', 60_001).allowed).toBe(true);
    expect(limiter.check('t', 'standard', 60_002).allowed).toBe(false);
    expect(limiter.check('u', 'standard', 60_002).allowed).toBe(true);
    expect(limiter.check('t', 'bulk', 60_002).allowed).toBe(true);
  });

  it('answers 429 with Retry-After per token and per class, and logs it', async () => {
    sim.configure({ rateLimits: { standard: 3, upload: 2, bulk: 1 } });
    try {
      sim.clearRequests();
      for (let i = 0; i < 3; i++) expect((await call('GET', '/security/groups')).status).toBe(200);
      const limited = await call('GET', '/security/groups');
      expectError(limited, 429);
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(sim.requests().at(-1)?.status).toBe(429);
      // Another token has its own window.
      expect((await call('GET', '/security/groups', undefined, sim.tokens.secondary)).status).toBe(200);
      // Bulk is its own class: one assignment is allowed even though standard is exhausted.
      const assign = { userName: sim.state().users()[0]?.userName, groupNames: ['Admin'] };
      expect((await call('POST', '/security/users/sso/assign_groups', assign)).status).toBe(200);
      expectError(await call('POST', '/security/users/sso/unassign_groups', assign), 429);
    } finally {
      sim.configure({ rateLimits: 'relaxed' });
    }
    expect((await call('GET', '/security/groups')).status).toBe(200);
  });

  it('defaults to the documented limits', async () => {
    const fresh = await startSimulator();
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 101; i++) {
        const r = await fetch(`${fresh.url}/service/api/security/groups`, {
          headers: { authorization: `Token ${fresh.tokens.primary}` },
        });
        await r.arrayBuffer();
        statuses.push(r.status);
      }
      expect(statuses.filter((s) => s === 200)).toHaveLength(100);
      expect(statuses.at(-1)).toBe(429);
    } finally {
      await fresh.close();
    }
  });
});
