/**
 * uploadErpFile over the GraphQL multipart request spec: the file reaches EPMware byte-identical with its fields,
 * once; an oversized file is refused before EPMware sees anything; EPMware's own 413 is PAYLOAD_TOO_LARGE too.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { FormData, request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RecordedMultipartBody, RecordedRequest } from '../src/simulator/index.ts';
import { toUpload } from '../src/upload.ts';
import { type Stack, type StackOptions, startStack, taskStateEventually } from './harness.ts';
import { multipartHead, uploadOperations } from './raw-upload.ts';

const UPLOAD_PATH = '/service/api/erp/upload_file';
/** The header Yoga's CSRF prevention asks of multipart requests (a browser cannot send it cross-site unasked). */
const CSRF_HEADER = { 'x-graphql-yoga-csrf': '1' };
const MUTATION = /* GraphQL */ `
  mutation ($file: File!, $name: String!, $delimiter: String!, $enclosingChar: String) {
    uploadErpFile(file: $file, name: $name, delimiter: $delimiter, enclosingChar: $enclosingChar) { taskId state }
  }
`;

interface UploadAnswer {
  status: number;
  data?: { uploadErpFile: { taskId: string; state: string } | null } | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

interface UploadOptions {
  variables?: Record<string, unknown>;
  token?: string | null;
  /** Declare a second file in the map (the gateway takes one per request). */
  twoFiles?: boolean;
}

function quietStack(options: StackOptions = {}): Promise<Stack> {
  return startStack({
    ...options,
    logStream: process.env.UPLOAD_TEST_LOGS ? undefined : { write: () => {} },
  });
}

/** A GraphQL multipart request (operations, map, file part), as Apollo's and urql's upload links send it. */
async function upload(stack: Stack, bytes: Uint8Array, options: UploadOptions = {}): Promise<UploadAnswer> {
  const variables = {
    file: null,
    name: stack.sim.fixtures.erpConfigNames[0],
    delimiter: ',',
    ...options.variables,
  };
  const form = new FormData();
  form.set('operations', JSON.stringify({ query: MUTATION, variables }));
  form.set(
    'map',
    JSON.stringify(
      options.twoFiles ? { 0: ['variables.file'], 1: ['variables.other'] } : { 0: ['variables.file'] },
    ),
  );
  form.set('0', new Blob([Buffer.from(bytes)], { type: 'text/csv' }), 'accounts.csv');
  if (options.twoFiles) form.set('1', new Blob(['x']), 'other.csv');
  const token = options.token === undefined ? stack.token : options.token;
  const response = await request(stack.url, {
    method: 'POST',
    headers: { ...CSRF_HEADER, ...(token ? { authorization: `Token ${token}` } : {}) },
    body: form,
  });
  return { status: response.statusCode, ...((await response.body.json()) as object) };
}

/** The same request with no Content-Length (chunked): the file's size is unknown until it has been read. */
async function uploadChunked(
  stack: Stack,
  bytes: Uint8Array,
  halfway: () => Promise<void> = async () => {},
): Promise<UploadAnswer> {
  const boundary = 'test-boundary-7d1c';
  async function* body() {
    yield Buffer.from(multipartHead(boundary, uploadOperations(stack, MUTATION), 'big.csv'));
    const middle = Math.floor(bytes.length / 2);
    yield Buffer.from(bytes.subarray(0, middle));
    await halfway();
    for (let at = middle; at < bytes.length; at += 16 * 1024)
      yield Buffer.from(bytes.subarray(at, at + 16 * 1024));
    yield Buffer.from(`\r\n--${boundary}--\r\n`);
  }
  const response = await request(stack.url, {
    method: 'POST',
    headers: {
      ...CSRF_HEADER,
      authorization: `Token ${stack.token}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
    },
    body: Readable.from(body()),
  });
  return { status: response.statusCode, ...((await response.body.json()) as object) };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What the simulator recorded of an upload's file part. */
function receivedFile(entry: RecordedRequest | undefined) {
  return (entry?.body as RecordedMultipartBody | undefined)?.file;
}

function uploads(stack: Stack) {
  return stack.sim.requests({ path: UPLOAD_PATH });
}

describe('with the default limits', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await quietStack({
      simulator: { taskDurationMs: 2_000 },
      env: { UPSTREAM_RATE_LIMIT_PER_MIN: '100000' },
    });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.sim.clearRequests());

  it('a 1 MiB file arrives byte-identical, with name and delimiter_char, in one request', async () => {
    const bytes = randomBytes(1024 * 1024);
    const name = stack.sim.fixtures.erpConfigNames[1];
    const answer = await upload(stack, bytes, { variables: { name, delimiter: '|', enclosingChar: '"' } });
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.uploadErpFile?.taskId).toBeTruthy();
    // The state comes from get_status, not from the upload's "S".
    expect(answer.data?.uploadErpFile?.state).toBe('RUNNING');
    expect(stack.sim.requests({ path: '/service/api/task/get_status/*' })).toHaveLength(1);

    const received = uploads(stack);
    expect(received).toHaveLength(1);
    expect(received[0]?.method).toBe('POST');
    expect(received[0]?.status).toBe(200);
    const body = received[0]?.body as RecordedMultipartBody;
    expect(body.fields).toEqual({ name, delimiter_char: '|', enclosing_char: '"' });
    expect(body.file).toEqual({
      fieldName: 'file',
      filename: 'accounts.csv',
      size: bytes.length,
      sha256: sha256(bytes),
    });
  });

  it('leaves enclosing_char out when none is given, and the task can be followed to its end', async () => {
    const bytes = Buffer.from('id,name\n1,Cash\n2,Receivables\n');
    const answer = await upload(stack, bytes, { variables: { delimiter: '\t' } });
    expect(answer.errors).toBeUndefined();
    const body = uploads(stack)[0]?.body as RecordedMultipartBody;
    expect(body.fields).toEqual({ name: stack.sim.fixtures.erpConfigNames[0], delimiter_char: '\t' });
    expect(body.file?.sha256).toBe(sha256(bytes));

    const taskId = answer.data?.uploadErpFile?.taskId;
    expect(await taskStateEventually(stack, taskId ?? '', 'SUCCEEDED')).toBe('SUCCEEDED');
  });

  it('streams: EPMware receives the upload while the client is still sending the file', async () => {
    const bytes = randomBytes(1024 * 1024);
    // A parser that held the file would call EPMware only once the whole body was in; the client waits, halfway
    // through the file, until EPMware has seen the upload begin.
    const answer = await uploadChunked(stack, bytes, async () => {
      for (let waited = 0; uploads(stack).length === 0; waited += 10) {
        if (waited > 5_000)
          throw new Error('EPMware saw nothing of the upload while the client was sending it');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    });
    expect(answer.errors).toBeUndefined();
    expect(receivedFile(uploads(stack)[0])?.sha256).toBe(sha256(bytes));
  });

  it('an unknown ERP configuration is NOT_FOUND', async () => {
    const answer = await upload(stack, Buffer.from('a,b\n'), { variables: { name: 'NO_SUCH_CONFIG' } });
    expect(answer.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(uploads(stack)).toHaveLength(1);
  });

  const invalid: Array<[string, Record<string, unknown>]> = [
    ['an empty delimiter', { delimiter: '' }],
    ['a two-character delimiter', { delimiter: ',,' }],
    ['a two-character enclosingChar', { enclosingChar: '""' }],
    ['a blank name', { name: '  ' }],
  ];
  it.each(invalid)('%s is BAD_USER_INPUT, with no upstream request', async (_label, variables) => {
    // Big enough that the unread rest of the file must be drained for the answer to get through.
    const answer = await upload(stack, randomBytes(2 * 1024 * 1024), { variables });
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(stack.sim.requests()).toHaveLength(0);
  });

  it('without a token it is UNAUTHENTICATED, with no upstream request', async () => {
    const answer = await upload(stack, Buffer.from('a,b\n'), { token: null });
    expect(answer.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(stack.sim.requests()).toHaveLength(0);
  });

  it('two files in one request are refused as BAD_USER_INPUT', async () => {
    const answer = await upload(stack, Buffer.from('a,b\n'), { twoFiles: true });
    expect(answer.status).toBe(400);
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(stack.sim.requests()).toHaveLength(0);
  });

  it('a 503 on the upload is UPSTREAM_UNAVAILABLE after exactly one request', async () => {
    stack.sim.setServiceDown('erp', true);
    try {
      const answer = await upload(stack, randomBytes(64 * 1024));
      expect(answer.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    } finally {
      stack.sim.setServiceDown('erp', false);
    }
    expect(uploads(stack)).toHaveLength(1);
  });
});

describe('over MAX_UPLOAD_BYTES', () => {
  const limit = 64 * 1024;
  let stack: Stack;
  beforeAll(async () => {
    stack = await quietStack({
      env: { MAX_UPLOAD_BYTES: String(limit), UPSTREAM_RATE_LIMIT_PER_MIN: '100000' },
    });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.sim.clearRequests());

  it('is PAYLOAD_TOO_LARGE before EPMware sees anything', async () => {
    const answer = await upload(stack, randomBytes(1024 * 1024));
    expect(answer.errors?.[0]?.extensions?.code).toBe('PAYLOAD_TOO_LARGE');
    expect(answer.errors?.[0]?.message).toMatch(String(limit));
    expect(stack.sim.requests()).toHaveLength(0);
  });

  it('is exact: one byte over is refused up front, the limit itself passes', async () => {
    const over = await upload(stack, randomBytes(limit + 1));
    expect(over.errors?.[0]?.extensions?.code).toBe('PAYLOAD_TOO_LARGE');
    expect(stack.sim.requests()).toHaveLength(0);

    const bytes = randomBytes(limit);
    const at = await upload(stack, bytes);
    expect(at.errors).toBeUndefined();
    expect(receivedFile(uploads(stack)[0])?.sha256).toBe(sha256(bytes));
  });

  it('without a Content-Length the file is cut off mid-stream, and EPMware gets no upload', async () => {
    const answer = await uploadChunked(stack, randomBytes(1024 * 1024));
    expect(answer.errors?.[0]?.extensions?.code).toBe('PAYLOAD_TOO_LARGE');
    // The upstream request was aborted part-way: no upload was accepted, no task created.
    expect(uploads(stack).filter((received) => received.status === 200)).toHaveLength(0);
    // A chunked upload under the limit still goes through.
    const small = randomBytes(1000);
    const ok = await uploadChunked(stack, small);
    expect(ok.errors).toBeUndefined();
    const accepted = uploads(stack).filter((received) => received.status === 200);
    expect(receivedFile(accepted[0])?.sha256).toBe(sha256(small));
  });
});

describe("over EPMware's own limit", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await quietStack({
      simulator: { maxUploadBytes: 64 * 1024 },
      env: { UPSTREAM_RATE_LIMIT_PER_MIN: '100000' },
    });
  });
  afterAll(() => stack.close());

  it('the upstream 413 is PAYLOAD_TOO_LARGE', async () => {
    const answer = await upload(stack, randomBytes(1024 * 1024));
    expect(answer.errors?.[0]?.extensions?.code).toBe('PAYLOAD_TOO_LARGE');
    expect(answer.errors?.[0]?.extensions?.upstreamStatus).toBe(413);
    expect(uploads(stack)).toHaveLength(1);
  });
});

it('the File scalar also takes a file held whole (Yoga’s own parser, outside Node’s http server)', async () => {
  const upload = toUpload(new File(['id,name\n1,Cash\n'], 'accounts.csv', { type: 'text/csv' }));
  expect(upload).toMatchObject({ name: 'accounts.csv', type: 'text/csv', minBytes: 15 });
  const chunks: Buffer[] = [];
  for await (const chunk of upload.open()) chunks.push(Buffer.from(chunk));
  expect(Buffer.concat(chunks).toString()).toBe('id,name\n1,Cash\n');
  expect(() => upload.open()).toThrow(/already used/);
  expect(() => toUpload('not a file')).toThrow(/multipart/);
});
