/**
 * The WebSocket transport's limits: the largest message (ws' `maxPayload`), a per-socket message rate, and
 * upgrades refused as a plain HTTP answer (a wrong path, or MAX_WEBSOCKETS reached). The rate limit is
 * hand-written: neither ws nor graphql-ws limits how many messages a socket sends.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Logger } from '../observability/logger.ts';
import { MAX_JSON_BODY_BYTES } from '../plugins/body-limit.ts';

/**
 * The largest legitimate message is a subscribe carrying what an HTTP request may carry: its payload is the JSON
 * body (query, variables, operationName, extensions) that MAX_JSON_BODY_BYTES (100 KB) bounds over HTTP, wrapped
 * in `{"id":"…","type":"subscribe","payload":…}`; 1 KiB covers that envelope with room for a long id. (A
 * connection_init carries at most a 4,096-character token.) ws closes a socket that sends more with 1009.
 */
export const MAX_MESSAGE_BYTES = MAX_JSON_BODY_BYTES + 1024;

/**
 * A socket may send MESSAGE_BURST messages at once, and MESSAGE_BURST per MESSAGE_WINDOW_MS on average (a token
 * bucket). A real client sends connection_init, a subscribe and a complete per operation, and now and then a ping:
 * opening the most operations one socket may hold (100) and replacing them all twice in a burst is about 400
 * messages, and a long-lived socket averages far below one a second. 500 leaves room for both; a flooding client is
 * closed after 500 messages instead of costing a parse and a reply per message for as long as it likes.
 */
export const MESSAGE_BURST = 500;
export const MESSAGE_WINDOW_MS = 10_000;
/** The close code of a socket over its message rate (4xxx: the application's; 429 as in HTTP). */
export const TOO_MANY_MESSAGES = 4429;
/** How long a socket closed for its rate has to read the close frame before it is cut. */
const CLOSE_GRACE_MS = 1_000;
/** How long a refused upgrade has to read its answer before the connection is cut. */
const REFUSAL_LINGER_MS = 1_000;

/** Watches one socket's message rate; over it, the socket is closed with 4429 and nothing more is read from it. */
export function limitMessageRate(socket: WebSocket): void {
  let tokens = MESSAGE_BURST;
  let at = Date.now();
  let over = false;
  socket.on('message', () => {
    if (over) return;
    const now = Date.now();
    tokens = Math.min(MESSAGE_BURST, tokens + ((now - at) * MESSAGE_BURST) / MESSAGE_WINDOW_MS);
    at = now;
    if (tokens >= 1) {
      tokens -= 1;
      return;
    }
    over = true;
    socket.close(
      TOO_MANY_MESSAGES,
      `Too many messages: at most ${MESSAGE_BURST} per ${MESSAGE_WINDOW_MS / 1000} s on one WebSocket`,
    );
    // Messages already read still reach graphql-ws (it answers nothing on a closing socket); no more are read.
    socket.pause();
    setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
  });
}

/**
 * ws raises a socket's 'error' only for what the client sent (a message over MAX_MESSAGE_BYTES, an invalid frame),
 * once, and closes the socket itself with the matching code (1009, 1002, ...). graphql-ws answers it with a
 * multi-line console.error and a redundant 1011 close; call this after graphql-ws has attached to the socket, and it
 * is one structured log line instead. A listener stays: an 'error' with none would stop the process.
 */
export function logSocketErrors(socket: WebSocket, logger: Logger): void {
  socket.removeAllListeners('error');
  socket.on('error', (error: Error & { code?: string }) => {
    logger.info({ code: error.code }, 'websocket closed: the client sent an invalid or oversized message');
  });
}

/**
 * Answers an upgrade request with `status` (and a JSON body when given) and closes the connection. The socket of
 * an upgrade has no error listener of Node's any more, so one is added first: a client resetting the connection
 * meanwhile must not stop the process. What it sends is dropped, for a second at most.
 */
export function refuseUpgrade(
  socket: Duplex,
  status: number,
  body?: { code: string; message: string },
): void {
  socket.on('error', ignore);
  const text = body ? JSON.stringify(body) : '';
  const headers = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
    'Connection: close',
    ...(body ? ['Content-Type: application/json'] : []),
    ...(status === 503 ? ['Retry-After: 1'] : []),
    `Content-Length: ${Buffer.byteLength(text)}`,
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${text}`);
  socket.resume();
  setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
}

function ignore(): void {}
