/**
 * WebSocket limits (issue #19: messages of up to 1 MiB were accepted, at any rate, on any number of sockets):
 * - the largest legitimate message, a subscribe carrying a request at the HTTP JSON limit (100 KB), is answered;
 *   one bigger than that plus its envelope closes the socket with 1009;
 * - a socket sending more than 500 messages in a burst is closed with 4429, while a client opening and completing
 *   the most operations a socket may hold, twice, stays open;
 * - past MAX_WEBSOCKETS an upgrade is answered 503, and a socket freed makes room again.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { afterEach, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { MAX_JSON_BODY_BYTES } from '../src/plugins/body-limit.ts';
import { MAX_OPERATIONS_PER_SOCKET } from '../src/transports/websocket.ts';
import { MAX_MESSAGE_BYTES, MESSAGE_BURST } from '../src/transports/websocket-limits.ts';
import { stackForFile } from './harness.ts';
import { failOnUncaughtErrors } from './raw-upload.ts';
import { waitFor } from './subscription-clients.ts';

const MAX_WEBSOCKETS = 3;

failOnUncaughtErrors();
const logLines: string[] = [];
const stack = stackForFile({
  env: { MAX_WEBSOCKETS: String(MAX_WEBSOCKETS), LOG_LEVEL: 'info' },
  logStream: { write: (line) => void logLines.push(line) },
});

interface Socket {
  ws: WebSocket;
  messages: Array<{ type: string; id?: string; payload?: unknown }>;
  closed: Promise<{ code: number; reason: string }>;
}

const open: WebSocket[] = [];
afterEach(() => {
  for (const ws of open.splice(0)) ws.terminate();
});

/** A graphql-transport-ws socket past its connection_ack. */
async function connected(): Promise<Socket> {
  const ws = new WebSocket(stack.url.href.replace(/^http/, 'ws'), 'graphql-transport-ws');
  open.push(ws);
  const socket: Socket = {
    ws,
    messages: [],
    closed: new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    ),
  };
  ws.on('message', (data) => socket.messages.push(JSON.parse(String(data))));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Token ${stack.token}` } }));
  await waitFor(() => socket.messages.some((message) => message.type === 'connection_ack'));
  return socket;
}

/** A socket as soon as the gateway has room for one (it counts a socket until it has seen it close). */
async function connectedWhenRoom(): Promise<Socket> {
  let socket: Socket | undefined;
  await waitFor(async () => {
    socket = await connected().catch(() => undefined);
    return socket !== undefined;
  });
  return socket as Socket;
}

/** `{ __typename }` with unused variables padding the JSON body to exactly `bytes`. */
function paddedRequest(bytes: number): string {
  const empty = JSON.stringify({ query: '{ __typename }', variables: { pad: '' } });
  return JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(bytes - empty.length) } });
}

it('a subscribe carrying a request at the HTTP limit is answered; a bigger message closes the socket (1009)', async () => {
  const body = paddedRequest(MAX_JSON_BODY_BYTES);
  expect(Buffer.byteLength(body)).toBe(MAX_JSON_BODY_BYTES);
  // The same request is accepted over HTTP...
  const http = await request(stack.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  expect(await http.body.json()).toEqual({ data: { __typename: 'Query' } });
  // ...and over the WebSocket, in the envelope of a subscribe.
  const socket = await connected();
  const id = randomUUID();
  socket.ws.send(`{"id":"${id}","type":"subscribe","payload":${body}}`);
  await waitFor(() => socket.messages.some((message) => message.type === 'complete' && message.id === id));
  expect(socket.messages.find((message) => message.type === 'next')?.payload).toEqual({
    data: { __typename: 'Query' },
  });

  const consoleError = vi.spyOn(console, 'error');
  const over = paddedRequest(MAX_MESSAGE_BYTES);
  const overId = randomUUID();
  socket.ws.send(`{"id":"${overId}","type":"subscribe","payload":${over}}`);
  // Either the socket is closed, or (with a larger cap) the message is answered.
  const answered = waitFor(() => socket.messages.some((message) => message.id === overId), 10_000);
  const closed = await Promise.race([socket.closed, answered.then(() => null)]);
  expect(closed?.code).toBe(1009);
  // Said in one structured log line, not graphql-ws' console dump.
  expect(consoleError).not.toHaveBeenCalled();
  consoleError.mockRestore();
  expect(logLines.filter((line) => line.includes('websocket closed'))).toHaveLength(1);
});

it(`a socket sending more than ${MESSAGE_BURST} messages at once is closed with 4429`, async () => {
  const socket = await connected();
  const pongs = () => socket.messages.filter((message) => message.type === 'pong').length;
  // Up to the limit (connection_init was one), every message is answered and the socket stays open.
  for (let i = 1; i < MESSAGE_BURST; i++) socket.ws.send('{"type":"ping"}');
  await waitFor(() => pongs() === MESSAGE_BURST - 1);
  expect(socket.ws.readyState).toBe(WebSocket.OPEN);
  // A hundred more at once: either the socket is closed, or (with no limit) every one is answered.
  for (let i = 0; i < 100; i++) socket.ws.send('{"type":"ping"}');
  const closed = await Promise.race([
    socket.closed,
    waitFor(() => pongs() === MESSAGE_BURST + 99, 10_000).then(() => null),
  ]);
  expect(closed?.code).toBe(4429);
  expect(closed?.reason).toMatch(/Too many messages: at most 500 per 10 s/);
});

it('a client opening and completing the most operations a socket may hold, twice over, stays open', async () => {
  const socket = await connected();
  let sent = 1;
  for (let round = 0; round < 2; round++) {
    const ids = Array.from({ length: MAX_OPERATIONS_PER_SOCKET }, () => randomUUID());
    for (const id of ids)
      socket.ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query: '{ __typename }' } }));
    for (const id of ids) socket.ws.send(JSON.stringify({ id, type: 'complete' }));
    sent += 2 * ids.length;
  }
  socket.ws.send('{"type":"ping"}');
  await waitFor(() => socket.messages.some((message) => message.type === 'pong'));
  expect(sent).toBeGreaterThan(MESSAGE_BURST * 0.8);
  expect(socket.ws.readyState).toBe(WebSocket.OPEN);
});

it(`past MAX_WEBSOCKETS (${MAX_WEBSOCKETS}) an upgrade is answered 503; a socket closed makes room`, async () => {
  const sockets = [];
  for (let i = 0; i < MAX_WEBSOCKETS; i++) sockets.push(await connectedWhenRoom());
  const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const ws = new WebSocket(stack.url.href.replace(/^http/, 'ws'), 'graphql-transport-ws');
    ws.once('open', () => reject(new Error('a socket over the cap was opened')));
    ws.once('error', () => {});
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
  expect(refused.status).toBe(503);
  expect(JSON.parse(refused.body)).toMatchObject({
    code: 'RATE_LIMITED',
    message: expect.stringMatching(/MAX_WEBSOCKETS/),
  });
  // The sockets already open still work.
  for (const socket of sockets) {
    socket.ws.send('{"type":"ping"}');
    await waitFor(() => socket.messages.some((message) => message.type === 'pong'));
  }
  sockets[0]?.ws.close();
  await sockets[0]?.closed;
  expect((await connectedWhenRoom()).ws.readyState).toBe(WebSocket.OPEN);
});
