/**
 * Uploads are bounded by progress, not by a total: with UPSTREAM_TIMEOUT_MS far shorter than the whole transfer,
 * a slow but steady upload succeeds (the deadline restarts with every chunk), while a client trickling below
 * UPLOAD_MIN_BYTES_PER_SEC over UPLOAD_RATE_WINDOW_MS is cut off long before it has sent its file.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RecordedMultipartBody } from '../src/simulator/index.ts';
import { type Stack, startStack } from './harness.ts';

const UPLOAD_PATH = '/service/api/erp/upload_file';
const MUTATION =
  'mutation ($file: File!, $name: String!) { uploadErpFile(file: $file, name: $name, delimiter: ",") { taskId } }';
const BOUNDARY = 'pace-boundary-41f0';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    env: {
      UPSTREAM_TIMEOUT_MS: '600',
      UPLOAD_MIN_BYTES_PER_SEC: '1000',
      UPLOAD_RATE_WINDOW_MS: '400',
      UPSTREAM_RATE_LIMIT_PER_MIN: '100000',
    },
    logStream: { write: () => {} },
  });
});
afterAll(() => stack.close());
beforeEach(() => stack.sim.clearRequests());

/** A multipart upload whose file part is `chunks` pieces sent `gapMs` apart; `sent` counts the pieces that went. */
function pacedUpload(chunks: Buffer[], gapMs: number, sent: { pieces: number }, target: Stack = stack) {
  const operations = JSON.stringify({
    query: MUTATION,
    variables: { file: null, name: target.sim.fixtures.erpConfigNames[0] },
  });
  const part = (name: string, value: string) =>
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  async function* body() {
    yield Buffer.from(
      `${part('operations', operations)}${part('map', '{"0":["variables.file"]}')}--${BOUNDARY}\r\n` +
        'Content-Disposition: form-data; name="0"; filename="slow.csv"\r\nContent-Type: text/csv\r\n\r\n',
    );
    for (const chunk of chunks) {
      await sleep(gapMs);
      sent.pieces++;
      yield chunk;
    }
    yield Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
  }
  return request(target.url, {
    method: 'POST',
    headers: {
      'x-graphql-yoga-csrf': '1',
      authorization: `Token ${target.token}`,
      'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
    },
    body: Readable.from(body()),
  }).then(async (response) => ({
    status: response.statusCode,
    ...((await response.body.json()) as {
      data?: { uploadErpFile: { taskId: string } | null } | null;
      errors?: Array<{ message: string; extensions?: { code?: string } }>;
    }),
  }));
}

describe('upload pace', () => {
  it('a slow but steady upload, many UPSTREAM_TIMEOUT_MS long, succeeds and arrives whole', async () => {
    // 20 pieces 100 ms apart: the transfer takes at least 2 s, more than three times UPSTREAM_TIMEOUT_MS, while
    // every gap is a sixth of it and each window of 400 ms carries far more than the 400-byte floor.
    const chunks = Array.from({ length: 20 }, (_, i) => Buffer.alloc(2048, 65 + (i % 26)));
    const sent = { pieces: 0 };
    const answer = await pacedUpload(chunks, 100, sent);
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.uploadErpFile?.taskId).toBeTruthy();
    expect(sent.pieces).toBe(20);
    const [upstream] = stack.sim.requests({ path: UPLOAD_PATH });
    const file = (upstream?.body as RecordedMultipartBody | undefined)?.file;
    expect(file?.size).toBe(20 * 2048);
    expect(file?.sha256).toBe(createHash('sha256').update(Buffer.concat(chunks)).digest('hex'));
    expect(stack.gateway.services.upstream.openCircuits()).toEqual([]);
  });

  it('a client trickling 1 byte every 50 ms (20 B/s, floor 1000 B/s) is cut off long before its file is sent', async () => {
    const chunks = Array.from({ length: 200 }, () => Buffer.from('x'));
    const sent = { pieces: 0 };
    const outcome = await pacedUpload(chunks, 50, sent).catch((error: unknown) => error);
    // Either the client read the answer before its connection was closed, or it saw the connection close.
    if (outcome instanceof Error) {
      expect(outcome.message).toBeTruthy();
    } else {
      const answer = outcome as Awaited<ReturnType<typeof pacedUpload>>;
      expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(answer.errors?.[0]?.message).toMatch(/cut off/);
    }
    expect(sent.pieces).toBeLessThan(chunks.length);
    // EPMware never got a whole file, and the slow client is no evidence against it.
    expect(stack.sim.requests({ path: UPLOAD_PATH }).filter((r) => r.status === 200)).toEqual([]);
    expect(stack.gateway.services.upstream.openCircuits()).toEqual([]);
  });
});

describe('upload pace with EPMware slow to read', () => {
  let held: Stack;
  beforeAll(async () => {
    held = await startStack({
      env: {
        UPSTREAM_TIMEOUT_MS: '10000',
        UPLOAD_MIN_BYTES_PER_SEC: '1000',
        UPLOAD_RATE_WINDOW_MS: '200',
        UPSTREAM_RATE_LIMIT_PER_MIN: '100000',
      },
      logStream: { write: () => {} },
    });
  });
  afterAll(() => held.close());

  it('a fast client held back by a slow EPMware is not cut off: windows of backpressure do not count', async () => {
    // EPMware waits 1.5 s (seven pace windows; less than UPSTREAM_TIMEOUT_MS) before reading the body: the gateway
    // stops reading the client, which sends nothing for those windows through no fault of its own. 16 MiB fills
    // the socket buffers on the way.
    held.sim.injectFault({ path: UPLOAD_PATH, delayMs: 1_500, times: 1 });
    const chunks = Array.from({ length: 256 }, (_, i) => Buffer.alloc(64 * 1024, 97 + (i % 26)));
    const sent = { pieces: 0 };
    const answer = await pacedUpload(chunks, 0, sent, held);
    expect(answer.errors, JSON.stringify(answer.errors)).toBeUndefined();
    expect(answer.data?.uploadErpFile?.taskId).toBeTruthy();
    const file = (held.sim.requests({ path: UPLOAD_PATH })[0]?.body as RecordedMultipartBody | undefined)
      ?.file;
    expect(file?.size).toBe(256 * 64 * 1024);
  });
});
