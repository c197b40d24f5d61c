/**
 * GET /exports/{taskId}/file: EPMware's bytes, Content-Type and file name, passed through; 401 without a token
 * (nothing sent upstream), 404 unknown, 410 expired, each with a JSON {code, message}.
 */
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRIMARY_TOKEN } from '../src/simulator/index.ts';
import { type Stack, stackForFile, startStack, taskStateEventually } from './harness.ts';

const stack = stackForFile({
  simulator: { taskDurationMs: 300, exportFileBytes: 3 * 1024 * 1024 + 17 },
  env: { UPSTREAM_RATE_LIMIT_PER_MIN: '100000' },
  logStream: { write: () => {} },
});

interface Download {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bytes: Buffer;
}

async function get(url: string, authorization?: string | null): Promise<Download> {
  const response = await request(url, { headers: authorization ? { authorization } : {} });
  return {
    status: response.statusCode,
    headers: response.headers,
    bytes: Buffer.from(await response.body.arrayBuffer()),
  };
}

/** null: no Authorization header at all. */
function viaGateway(taskId: string, authorization: string | null = `Token ${stack.token}`) {
  return get(`${stack.origin}/exports/${encodeURIComponent(taskId)}/file`, authorization);
}

function direct(taskId: string) {
  return get(`${stack.sim.url}/service/api/export/download_file/${taskId}`, `Token ${stack.token}`);
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function downloads() {
  return stack.sim.requests({ path: '/service/api/export/download_file/*' });
}

it("streams EPMware's file: identical bytes, type, file name and length, from one upstream request", async () => {
  const taskId = stack.sim.fixtures.exportTaskId;
  const gateway = await viaGateway(taskId);
  expect(gateway.status).toBe(200);
  expect(downloads()).toHaveLength(1);
  expect(downloads()[0]?.token).toBe(stack.token);
  const reference = await direct(taskId);
  expect(reference.status).toBe(200);
  expect(gateway.bytes.length).toBe(3 * 1024 * 1024 + 17);
  expect(sha256(gateway.bytes)).toBe(sha256(reference.bytes));
  expect(gateway.headers['content-type']).toBe(reference.headers['content-type']);
  expect(gateway.headers['content-disposition']).toBe(reference.headers['content-disposition']);
  expect(gateway.headers['content-disposition']).toMatch(/filename="[^"]+"/);
  expect(gateway.headers['content-length']).toBe(String(gateway.bytes.length));
  expect(gateway.headers['cache-control']).toBe('private, no-store');
  expect(gateway.headers['x-content-type-options']).toBe('nosniff');
  expect(gateway.headers['content-security-policy']).toBe("sandbox; default-src 'none'");
});

it('an HTML answer with a hostile file name: still an attachment, name made safe, sandboxed, nosniff', async () => {
  const taskId = stack.sim.fixtures.exportTaskId;
  stack.sim.injectFault({
    path: `/service/api/export/download_file/${taskId}`,
    body: '<script>alert(document.cookie)</script>',
    headers: {
      'Content-Type': 'text/html',
      'Content-Disposition': 'inline; filename="../../evil<b>;x.html"',
    },
    times: 1,
  });
  const answer = await viaGateway(taskId);
  expect(answer.status).toBe(200);
  expect(answer.headers['content-disposition']).toBe('attachment; filename="evil_b__x.html"');
  expect(answer.headers['x-content-type-options']).toBe('nosniff');
  expect(answer.headers['content-security-policy']).toBe("sandbox; default-src 'none'");
  expect(answer.bytes.toString()).toBe('<script>alert(document.cookie)</script>');
});

it('a file name with nothing usable left falls back to the task id', async () => {
  const taskId = stack.sim.fixtures.exportTaskId;
  stack.sim.injectFault({
    path: `/service/api/export/download_file/${taskId}`,
    body: 'a,b\n',
    headers: { 'Content-Type': 'text/csv', 'Content-Disposition': 'attachment; filename="../.."' },
    times: 1,
  });
  const answer = await viaGateway(taskId);
  expect(answer.headers['content-disposition']).toBe(`attachment; filename="${taskId}.export"`);
});

it('an export still running is 409 CONFLICT "not finished" (EPMware says 404), after one status lookup', async () => {
  stack.sim.configure({ taskDurationMs: 60_000 });
  try {
    const run = await stack.graphql<{ runExport: { taskId: string } }>(
      'mutation ($name: String) { runExport(name: $name) { taskId } }',
      { name: stack.sim.fixtures.exportNames[1] },
    );
    const taskId = run.data?.runExport.taskId ?? '';
    stack.sim.clearRequests();
    const answer = await viaGateway(taskId);
    expect(answer.status).toBe(409);
    const body = JSON.parse(answer.bytes.toString()) as { code: string; message: string };
    expect(body.code).toBe('CONFLICT');
    expect(body.message).toMatch(/not finished/);
    expect(stack.sim.requests().map((r) => `${r.path} ${r.status}`)).toEqual([
      `/service/api/export/download_file/${taskId} 404`,
      `/service/api/task/get_status/${taskId} 200`,
    ]);
  } finally {
    stack.sim.configure({ taskDurationMs: 300 });
  }
});

it('a failed task has no file: 404 saying so', async () => {
  const answer = await viaGateway(stack.sim.fixtures.failedTaskId);
  expect(answer.status).toBe(404);
  expect(JSON.parse(answer.bytes.toString())).toMatchObject({
    code: 'NOT_FOUND',
    message: expect.stringMatching(/failed/),
  });
});

it('a client that leaves mid-file stops the download, and the next one is whole', async () => {
  const taskId = stack.sim.fixtures.exportTaskId;
  const response = await request(`${stack.origin}/exports/${taskId}/file`, {
    headers: { authorization: `Token ${stack.token}` },
  });
  expect(response.statusCode).toBe(200);
  for await (const _chunk of response.body) break; // reads one chunk, then destroys the body
  const again = await viaGateway(taskId);
  expect(again.status).toBe(200);
  expect(sha256(again.bytes)).toBe(sha256((await direct(taskId)).bytes));
});

it('takes a Bearer token as /graphql does', async () => {
  const answer = await viaGateway(stack.sim.fixtures.exportTaskId, `Bearer ${stack.token}`);
  expect(answer.status).toBe(200);
  expect(downloads()[0]?.token).toBe(stack.token);
});

it('the file of an export run through the gateway, then expired: 200, then 410 GONE', async () => {
  const run = await stack.graphql<{ runExport: { taskId: string; downloadUrl: string } }>(
    'mutation ($name: String) { runExport(name: $name) { taskId downloadUrl } }',
    { name: stack.sim.fixtures.exportNames[0] },
  );
  expect(run.errors).toBeUndefined();
  const taskId = run.data?.runExport.taskId ?? '';
  expect(run.data?.runExport.downloadUrl).toBe(`${stack.origin}/exports/${taskId}/file`);
  expect(await taskStateEventually(stack, taskId, 'SUCCEEDED')).toBe('SUCCEEDED');
  const fresh = await get(run.data?.runExport.downloadUrl ?? '', `Token ${stack.token}`);
  expect(fresh.status).toBe(200);
  expect(sha256(fresh.bytes)).toBe(sha256((await direct(taskId)).bytes));

  stack.sim.expireExportFile(taskId);
  const expired = await viaGateway(taskId);
  expect(expired.status).toBe(410);
  expect(expired.headers['content-type']).toMatch(/application\/json/);
  expect(JSON.parse(expired.bytes.toString())).toEqual({ code: 'GONE', message: 'Export file has expired' });
});

it('an expired file is 410 GONE', async () => {
  const answer = await viaGateway(stack.sim.fixtures.expiredExportTaskId);
  expect(answer.status).toBe(410);
  expect(JSON.parse(answer.bytes.toString())).toMatchObject({ code: 'GONE' });
});

it('an unknown task is 404 NOT_FOUND, told apart from a running one by its status', async () => {
  const answer = await viaGateway('999999999');
  expect(answer.status).toBe(404);
  expect(JSON.parse(answer.bytes.toString())).toEqual({
    code: 'NOT_FOUND',
    message: 'No task 999999999: EPMware does not know it',
  });
  expect(downloads()).toHaveLength(1);
  expect(stack.sim.requests({ path: '/service/api/task/get_status/*' })).toHaveLength(1);
});

it('without a token: 401 UNAUTHENTICATED and nothing sent upstream', async () => {
  const answer = await viaGateway(stack.sim.fixtures.exportTaskId, null);
  expect(answer.status).toBe(401);
  expect(JSON.parse(answer.bytes.toString())).toMatchObject({ code: 'UNAUTHENTICATED' });
  const malformed = await viaGateway(stack.sim.fixtures.exportTaskId, 'Basic dXNlcjpwYXNz');
  expect(malformed.status).toBe(401);
  expect(stack.sim.requests()).toHaveLength(0);
});

it('EPMware down: 503 UPSTREAM_UNAVAILABLE', async () => {
  stack.sim.setServiceDown('export', true);
  try {
    const answer = await viaGateway(stack.sim.fixtures.exportTaskId);
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.bytes.toString())).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  } finally {
    stack.sim.setServiceDown('export', false);
  }
});

it('a malformed task id in the path is 400, and other methods 405', async () => {
  const malformed = await get(`${stack.origin}/exports/%E0%A4/file`, `Token ${stack.token}`);
  expect(malformed.status).toBe(400);
  expect(JSON.parse(malformed.bytes.toString())).toMatchObject({ code: 'BAD_USER_INPUT' });
  const post = await request(`${stack.origin}/exports/1/file`, { method: 'POST', body: '' });
  expect(post.statusCode).toBe(405);
  await post.body.dump();
  expect(stack.sim.requests()).toHaveLength(0);
});

describe('with EPMWARE_TOKEN configured', () => {
  let trusted: Stack;
  beforeAll(async () => {
    trusted = await startStack({ env: { EPMWARE_TOKEN: PRIMARY_TOKEN }, logStream: { write: () => {} } });
  });
  afterAll(() => trusted.close());

  it('a request without a token downloads with the configured one', async () => {
    const answer = await get(`${trusted.origin}/exports/${trusted.sim.fixtures.exportTaskId}/file`);
    expect(answer.status).toBe(200);
    expect(trusted.sim.requests({ path: '/service/api/export/download_file/*' })[0]?.token).toBe(
      PRIMARY_TOKEN,
    );
  });
});
