// The simulator's ERP file upload: streaming multipart parsing, what the log records, 400/404/413/429/503.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RecordedMultipartBody, type Simulator, startSimulator } from '../src/simulator/index.ts';
import type { UpstreamTaskStatus, UpstreamTaskSubmitted } from '../src/simulator/types.ts';

const UPLOAD = '/service/api/erp/upload_file';
let sim: Simulator;

interface UploadParts {
  name?: string;
  delimiter_char?: string;
  enclosing_char?: string;
  file?: { bytes: Uint8Array; filename: string };
}

async function upload(
  target: Simulator,
  parts: UploadParts,
): Promise<{ status: number; headers: Headers; json: unknown }> {
  const form = new FormData();
  for (const field of ['name', 'delimiter_char', 'enclosing_char'] as const) {
    const value = parts[field];
    if (value !== undefined) form.set(field, value);
  }
  if (parts.file) form.set('file', new Blob([new Uint8Array(parts.file.bytes)]), parts.file.filename);
  const res = await fetch(`${target.url}${UPLOAD}`, {
    method: 'POST',
    headers: { authorization: `Token ${target.tokens.primary}` },
    body: form,
  });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

function expectError(r: { status: number; json: unknown }, status: number, message?: RegExp): void {
  expect(r.status).toBe(status);
  const body = r.json as { status: string; message: string };
  expect(body.status).toBe('E');
  if (message) expect(body.message).toMatch(message);
}

const BOUNDARY = 'simulator-test-boundary';

/** A multipart body generated on the fly from one reused chunk, so the client holds no big buffer either. */
async function* streamedMultipart(fileBytes: number, chunk: Buffer): AsyncGenerator<Buffer> {
  const field = (name: string, value: string): string =>
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  yield Buffer.from(
    `${field('name', 'ASOALL_Entity')}${field('delimiter_char', '|')}--${BOUNDARY}\r\n` +
      'Content-Disposition: form-data; name="file"; filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n',
  );
  for (let sent = 0; sent < fileBytes; sent += chunk.length) yield chunk;
  yield Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
}

beforeAll(async () => {
  sim = await startSimulator({ rateLimits: 'relaxed', taskDurationMs: 400, maxUploadBytes: 1024 * 1024 });
});

afterAll(async () => {
  await sim.close();
});

describe('ERP upload', () => {
  it('accepts a multipart upload, records fields and the file hash, and runs a short task', async () => {
    sim.clearRequests();
    const bytes = randomBytes(300_000);
    const r = await upload(sim, {
      name: 'ASOALL_Account',
      delimiter_char: ',',
      enclosing_char: '"',
      file: { bytes, filename: 'accounts.csv' },
    });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      status: 'S',
      taskId: expect.stringMatching(/^\d+$/),
      message: 'File uploaded successfully',
    });
    const [entry] = sim.requests({ path: UPLOAD });
    const body = entry?.body as RecordedMultipartBody;
    expect(body.fields).toEqual({ name: 'ASOALL_Account', delimiter_char: ',', enclosing_char: '"' });
    expect(body.file).toEqual({
      fieldName: 'file',
      filename: 'accounts.csv',
      size: 300_000,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    expect(entry?.status).toBe(200);
    const taskId = (r.json as UpstreamTaskSubmitted).taskId;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const res = await fetch(`${sim.url}/service/api/task/get_status/${taskId}`, {
      headers: { authorization: `Token ${sim.tokens.primary}` },
    });
    expect(((await res.json()) as UpstreamTaskStatus).status).toBe('S');
  });

  it('answers 400 for a missing field, a missing file or a body that is not multipart', async () => {
    const file = { bytes: Buffer.from('a,b\n1,2\n'), filename: 'x.csv' };
    expectError(await upload(sim, { name: 'ASOALL_Account', file }), 400, /delimiter_char/);
    expectError(await upload(sim, { delimiter_char: ',', file }), 400, /name/);
    expectError(await upload(sim, { name: 'ASOALL_Account', delimiter_char: ',' }), 400, /file/);
    const json = await fetch(`${sim.url}${UPLOAD}`, {
      method: 'POST',
      headers: { authorization: `Token ${sim.tokens.primary}`, 'content-type': 'application/json' },
      body: '{"name":"ASOALL_Account"}',
    });
    expectError({ status: json.status, json: await json.json() }, 400, /multipart/);
    const noBoundary = await fetch(`${sim.url}${UPLOAD}`, {
      method: 'POST',
      headers: { authorization: `Token ${sim.tokens.primary}`, 'content-type': 'multipart/form-data' },
      body: 'garbage',
    });
    expect(noBoundary.status).toBe(400);
    await noBoundary.arrayBuffer();
  });

  it('answers 404 for an unknown ERP configuration', async () => {
    const r = await upload(sim, {
      name: 'NoSuchImport',
      delimiter_char: ',',
      file: { bytes: Buffer.from('x'), filename: 'x.csv' },
    });
    expectError(r, 404, /NoSuchImport/);
  });

  it('answers 413 over maxUploadBytes and closes the connection, the client still reading the answer', async () => {
    sim.clearRequests();
    const r = await upload(sim, {
      name: 'ASOALL_Account',
      delimiter_char: ',',
      file: { bytes: Buffer.alloc(3 * 1024 * 1024, 1), filename: 'big.csv' },
    });
    expectError(r, 413, /too large/i);
    expect(r.headers.get('connection')).toBe('close');
    expect(sim.requests({ path: UPLOAD })[0]?.status).toBe(413);

    // A streamed body without Content-Length: the simulator stops at the limit instead of reading 40 MB.
    const started = Date.now();
    const streamed = await request(`${sim.url}${UPLOAD}`, {
      method: 'POST',
      headers: {
        authorization: `Token ${sim.tokens.primary}`,
        'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
      },
      body: Readable.from(streamedMultipart(40 * 1024 * 1024, Buffer.alloc(64 * 1024, 7))),
    });
    expect(streamed.statusCode).toBe(413);
    expect(((await streamed.body.json()) as { status: string }).status).toBe('E');
    expect(Date.now() - started).toBeLessThan(3_000);
    const recorded = sim.requests({ path: UPLOAD }).at(-1)?.body as RecordedMultipartBody;
    expect(recorded.file?.size).toBeLessThanOrEqual(1024 * 1024);
    expect(
      (
        await upload(sim, {
          name: 'ASOALL_Account',
          delimiter_char: ',',
          file: { bytes: Buffer.from('ok'), filename: 'ok.csv' },
        })
      ).status,
    ).toBe(200);
  });

  it('streams a 200 MB upload without holding it in memory', async () => {
    const big = await startSimulator({
      rateLimits: 'relaxed',
      taskDurationMs: 400,
      maxUploadBytes: 300 * 1024 * 1024,
    });
    try {
      const fileBytes = 200 * 1024 * 1024;
      const chunk = Buffer.alloc(256 * 1024, 'x');
      const expected = createHash('sha256');
      for (let sent = 0; sent < fileBytes; sent += chunk.length) expected.update(chunk);
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 5);
      const res = await request(`${big.url}${UPLOAD}`, {
        method: 'POST',
        headers: {
          authorization: `Token ${big.tokens.primary}`,
          'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
        },
        body: Readable.from(streamedMultipart(fileBytes, chunk)),
      });
      clearInterval(sampler);
      expect(res.statusCode).toBe(200);
      await res.body.json();
      // Holding the file would grow the process by 200 MB; streaming stays well under half of that.
      expect(peak - before).toBeLessThan(100 * 1024 * 1024);
      const file = (big.requests({ path: UPLOAD })[0]?.body as RecordedMultipartBody | undefined)?.file;
      expect(file).toEqual({
        fieldName: 'file',
        filename: 'big.csv',
        size: fileBytes,
        sha256: expected.digest('hex'),
      });
    } finally {
      await big.close();
    }
  });

  it('limits uploads in their own class, and answers 503 while the ERP service is down', async () => {
    const file = { bytes: Buffer.from('a'), filename: 'a.csv' };
    sim.configure({ rateLimits: { standard: 100, upload: 1, bulk: 5 } });
    try {
      expect((await upload(sim, { name: 'ASOALL_Account', delimiter_char: ',', file })).status).toBe(200);
      const limited = await upload(sim, { name: 'ASOALL_Account', delimiter_char: ',', file });
      expectError(limited, 429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const other = await fetch(`${sim.url}/service/api/security/groups`, {
        headers: { authorization: `Token ${sim.tokens.primary}` },
      });
      expect(other.status).toBe(200);
      await other.arrayBuffer();
    } finally {
      sim.configure({ rateLimits: 'relaxed' });
    }
    sim.setServiceDown('erp', true);
    try {
      expectError(
        await upload(sim, { name: 'ASOALL_Account', delimiter_char: ',', file }),
        503,
        /not running/,
      );
    } finally {
      sim.setServiceDown('erp', false);
    }
  });
});
