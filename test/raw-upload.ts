/**
 * GraphQL multipart uploads written byte by byte on a raw socket, for the tests of what hostile or careless clients
 * do: stop sending half-way, close right after the answer, send a chunked body bigger than allowed in one write.
 * An HTTP client library would finish or abort the request its own way; these tests need to choose.
 */
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { Stack } from './harness.ts';

export const UPLOAD_MUTATION =
  'mutation ($file: File!, $name: String!, $delimiter: String!) ' +
  '{ uploadErpFile(file: $file, name: $name, delimiter: $delimiter) { taskId } }';
const BOUNDARY = 'raw-upload-boundary-5e2a';

export interface RawUploadOptions {
  /** The token to send; null sends no Authorization header. */
  token: string | null;
  /** The ERP configuration named in the mutation's variables. */
  name: string;
  delimiter?: string;
  /** Transfer-Encoding: chunked (no Content-Length); otherwise Content-Length declares `declaredFileBytes`. */
  chunked?: boolean;
  /** The file's size as the Content-Length announces it (ignored when chunked). Default 1 MB. */
  declaredFileBytes?: number;
}

export interface RawAnswer {
  status: number;
  headers: string;
  body: { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

export interface RawUpload {
  socket: Socket;
  /** Sends the next piece of the file (framed as a chunk when chunked). */
  send(bytes: Buffer): void;
  /** Sends the end of the body: the closing delimiter (and the last chunk). */
  finish(): void;
  /** The gateway's answer, once it has come whole. */
  answer: Promise<RawAnswer>;
  /** Resolves when the connection has closed (from either side). */
  closed: Promise<void>;
}

/** Opens the connection and sends the request's headers and the body up to the file's first byte. */
export function rawUpload(url: URL, options: RawUploadOptions): RawUpload {
  const part = (name: string, value: string) =>
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const operations = JSON.stringify({
    query: UPLOAD_MUTATION,
    variables: { file: null, name: options.name, delimiter: options.delimiter ?? ',' },
  });
  const prefix =
    `${part('operations', operations)}${part('map', '{"0":["variables.file"]}')}--${BOUNDARY}\r\n` +
    'Content-Disposition: form-data; name="0"; filename="accounts.csv"\r\nContent-Type: text/csv\r\n\r\n';
  const closing = `\r\n--${BOUNDARY}--\r\n`;
  const headers = [
    'POST /graphql HTTP/1.1',
    `Host: ${url.host}`,
    'x-graphql-yoga-csrf: 1',
    `content-type: multipart/form-data; boundary=${BOUNDARY}`,
  ];
  if (options.token) headers.push(`authorization: Token ${options.token}`);
  const fileBytes = options.declaredFileBytes ?? 1024 * 1024;
  headers.push(
    options.chunked
      ? 'transfer-encoding: chunked'
      : `content-length: ${Buffer.byteLength(prefix) + fileBytes + Buffer.byteLength(closing)}`,
  );

  const socket = connect(Number(url.port), url.hostname);
  socket.on('error', () => {});
  const frame = (bytes: Buffer): Buffer =>
    options.chunked
      ? Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')])
      : bytes;
  const write = (bytes: Buffer) => {
    if (!socket.destroyed) socket.write(frame(bytes));
  };
  socket.write(`${headers.join('\r\n')}\r\n\r\n`);
  write(Buffer.from(prefix));

  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const parsed = parseAnswer(received);
      if (parsed) resolve(parsed);
    });
    void closed.then(() => reject(new Error(`closed before a whole answer: ${received.toString()}`)));
  });
  answer.catch(() => {});
  return {
    socket,
    send: write,
    finish() {
      write(Buffer.from(closing));
      if (options.chunked && !socket.destroyed) socket.write('0\r\n\r\n');
    },
    answer,
    closed,
  };
}

function parseAnswer(bytes: Buffer): RawAnswer | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const headers = bytes.subarray(0, end).toString('latin1');
  const length = Number(/^content-length:\s*(\d+)/im.exec(headers)?.[1]);
  if (!Number.isInteger(length) || bytes.length < end + 4 + length) return undefined;
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1]);
  return { status, headers, body: JSON.parse(bytes.subarray(end + 4, end + 4 + length).toString('utf8')) };
}

/**
 * Fails the test during which an error went uncaught (vitest reports one as a failed run, not a failed test): the
 * crash this file's tests guard against, attributed to the test that caused it. Call at a file's top level.
 */
export function failOnUncaughtErrors(): void {
  const uncaught: string[] = [];
  const record = (error: Error) => {
    uncaught.push(`${error.name}: ${error.message}`);
  };
  beforeAll(() => {
    process.on('uncaughtExceptionMonitor', record);
  });
  afterAll(() => {
    process.off('uncaughtExceptionMonitor', record);
  });
  afterEach(() => {
    expect(uncaught.splice(0), 'errors no listener handled').toEqual([]);
  });
}

export interface TricklingUpload {
  /** The answer has come (or the request failed). */
  settled: boolean;
  result: Promise<{
    status: number;
    data?: { uploadErpFile: { taskId: string } | null } | null;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  }>;
}

/**
 * An upload (of the stack's first ERP configuration) sending 240 bytes every 100 ms, 2.4 KB/s, above the 1 KB/s
 * pace floor, until `released()`; then it sends the end of its body and reads the answer.
 */
/** The operations field of an ERP import upload of the simulator's first configuration, its file still null. */
export function uploadOperations(stack: Stack, mutation: string): string {
  return JSON.stringify({
    query: mutation,
    variables: { file: null, name: stack.sim.fixtures.erpConfigNames[0], delimiter: ',' },
  });
}

/** A multipart upload's body up to the file's first byte: the operations, the map, the file part's headers. */
export function multipartHead(boundary: string, operations: string, filename: string): string {
  const part = (name: string, value: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  return (
    `${part('operations', operations)}${part('map', '{"0":["variables.file"]}')}--${boundary}\r\n` +
    `Content-Disposition: form-data; name="0"; filename="${filename}"\r\nContent-Type: text/csv\r\n\r\n`
  );
}

export function tricklingUpload(stack: Stack, token: string, released: () => boolean): TricklingUpload {
  const boundary = 'trickle-boundary-9c3e';
  async function* body() {
    yield Buffer.from(multipartHead(boundary, uploadOperations(stack, UPLOAD_MUTATION), 'slow.csv'));
    while (!released()) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      yield Buffer.alloc(240, 120);
    }
    yield Buffer.from(`\r\n--${boundary}--\r\n`);
  }
  const upload: TricklingUpload = {
    settled: false,
    result: request(stack.url, {
      method: 'POST',
      headers: {
        'x-graphql-yoga-csrf': '1',
        authorization: `Token ${token}`,
        'content-type': `multipart/form-data; boundary=${boundary}`,
      },
      body: Readable.from(body()),
    })
      .then(async (response) => ({
        status: response.statusCode,
        ...((await response.body.json()) as Omit<Awaited<TricklingUpload['result']>, 'status'>),
      }))
      .finally(() => {
        upload.settled = true;
      }),
  };
  return upload;
}
