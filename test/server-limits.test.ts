/**
 * The HTTP server's limits (issue #19: Node's default header timeout let 3,000 slowloris connections sit for 40 s):
 * a client that never finishes its headers, or trickles a JSON body, is answered 408 and closed after
 * HTTP_HEADERS_TIMEOUT_MS / HTTP_REQUEST_TIMEOUT_MS (short values here); an upload, bounded by its pace instead,
 * outlives the request timeout; past MAX_CONNECTIONS a connection is answered 503 at once while the instance keeps
 * serving the connections it has.
 */
import { connect, type Socket } from 'node:net';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { type Stack, startStack } from './harness.ts';
import { failOnUncaughtErrors, tricklingUpload } from './raw-upload.ts';
import { waitFor } from './subscription-clients.ts';

failOnUncaughtErrors();

interface RawClient {
  socket: Socket;
  received(): string;
  closed: Promise<void>;
}

function rawClient(stack: Stack): Promise<RawClient> {
  return new Promise((resolve) => {
    const socket = connect(Number(stack.url.port), '127.0.0.1');
    let received = '';
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('connect', () => resolve({ socket, received: () => received, closed }));
  });
}

/** Sends `piece` every 50 ms until the connection closes. */
function trickle(client: RawClient, piece: string): void {
  const timer = setInterval(() => {
    if (!client.socket.destroyed) client.socket.write(piece);
  }, 50);
  void client.closed.then(() => clearInterval(timer));
}

describe('timeouts', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { HTTP_HEADERS_TIMEOUT_MS: '300', HTTP_REQUEST_TIMEOUT_MS: '600', UPLOAD_RATE_WINDOW_MS: '500' },
      logStream: { write: () => {} },
    });
  });
  afterAll(() => stack.close());

  it('a client sending its headers a line at a time is answered 408 and closed by the header timeout', async () => {
    const client = await rawClient(stack);
    client.socket.write(`POST /graphql HTTP/1.1\r\nHost: ${stack.url.host}\r\n`);
    // Never the blank line that ends the headers: only the gateway can end this.
    trickle(client, 'X-Slow: a\r\n');
    await client.closed;
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('a connection that sends nothing is closed by the header timeout too', async () => {
    const client = await rawClient(stack);
    await client.closed;
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('a JSON body trickled a byte at a time is answered 408 and closed by the request timeout', async () => {
    const client = await rawClient(stack);
    client.socket.write(
      `POST /graphql HTTP/1.1\r\nHost: ${stack.url.host}\r\nContent-Type: application/json\r\n` +
        `Authorization: Token ${stack.token}\r\nContent-Length: 100000\r\n\r\n{`,
    );
    trickle(client, ' ');
    await client.closed;
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(stack.sim.requests()).toEqual([]);
  });

  it('an upload keeping its pace outlives the request timeout, which bounds the other requests', async () => {
    let released = false;
    const upload = tricklingUpload(stack, stack.token, () => released);
    try {
      await waitFor(() => stack.sim.requests({ path: '/service/api/erp/upload_file' }).length === 1);
      // Started after the upload, so its request timeout passes later than the upload's would.
      const slowBody = await rawClient(stack);
      slowBody.socket.write(
        `POST /graphql HTTP/1.1\r\nHost: ${stack.url.host}\r\nContent-Type: application/json\r\n` +
          'Content-Length: 100000\r\n\r\n{',
      );
      trickle(slowBody, ' ');
      await slowBody.closed;
      expect(slowBody.received()).toMatch(/^HTTP\/1\.1 408 /);
      expect(upload.settled).toBe(false);
    } finally {
      released = true;
    }
    const answer = await upload.result;
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.uploadErpFile?.taskId).toBeTruthy();
  });
});

describe('MAX_CONNECTIONS', () => {
  const MAX = 20;
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      // Long timeouts: here only the cap closes anything.
      env: {
        MAX_CONNECTIONS: String(MAX),
        HTTP_HEADERS_TIMEOUT_MS: '60000',
        HTTP_REQUEST_TIMEOUT_MS: '60000',
      },
      logStream: { write: () => {} },
    });
  });
  afterAll(() => stack.close());

  async function usersTotal(client: Client): Promise<unknown> {
    const response = await client.request({
      path: '/graphql',
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Token ${stack.token}` },
      body: JSON.stringify({ query: '{ users { totalCount } }' }),
    });
    return response.body.json();
  }

  it('a flood over the cap is answered 503 at once, while the connections already open are served', async () => {
    const served = new Client(stack.origin);
    const idle: RawClient[] = [];
    try {
      expect(await usersTotal(served)).toMatchObject({ data: { users: { totalCount: 60 } } });
      // The cap filled by connections that send nothing (a slowloris; the header timeout is long here).
      for (let i = 1; i < MAX; i++) idle.push(await rawClient(stack));

      const flood = await Promise.all(Array.from({ length: 100 }, () => rawClient(stack)));
      for (const client of flood)
        client.socket.write(`GET /healthz HTTP/1.1\r\nHost: ${stack.url.host}\r\n\r\n`);
      await Promise.all(flood.map((client) => client.closed));
      for (const client of flood) {
        const [head = '', body = ''] = client.received().split('\r\n\r\n');
        expect(head).toMatch(/^HTTP\/1\.1 503 /);
        expect(head).toMatch(/retry-after: 1/i);
        expect(JSON.parse(body)).toMatchObject({
          code: 'RATE_LIMITED',
          message: expect.stringMatching(/MAX_CONNECTIONS/),
        });
      }
      // The connection the gateway already had is still served.
      expect(await usersTotal(served)).toMatchObject({ data: { users: { totalCount: 60 } } });
    } finally {
      for (const client of idle) client.socket.destroy();
      await served.close();
    }
    // Once those connections have gone, a new one is served.
    await waitFor(async () => {
      const fresh = new Client(stack.origin);
      try {
        const answer = (await usersTotal(fresh).catch(() => undefined)) as { data?: unknown } | undefined;
        return answer?.data !== undefined;
      } finally {
        await fresh.destroy();
      }
    });
  });
});

describe('configuration', () => {
  it('defaults, and a header timeout longer than the request timeout stops start-up naming the variable', () => {
    expect(loadConfig({})).toMatchObject({
      httpHeadersTimeoutMs: 10_000,
      httpRequestTimeoutMs: 30_000,
      maxConnections: 4_096,
      maxWebSockets: 1_024,
      maxConcurrentUploads: 8,
      maxConcurrentUploadsPerCredential: 2,
    });
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '1000' })).toThrow(
      /^HTTP_HEADERS_TIMEOUT_MS: must be at most HTTP_REQUEST_TIMEOUT_MS \(1000\), got 5000$/,
    );
    expect(() => loadConfig({ MAX_CONNECTIONS: '0' })).toThrow(/^MAX_CONNECTIONS: /);
  });
});
