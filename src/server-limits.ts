/**
 * The HTTP server's own limits. Node's defaults let a client that never finishes its headers hold a connection for
 * 60 s (checked every 30 s, so up to 90 s) and one that trickles its body for 300 s, with no cap on connections:
 * 3,000 slowloris connections sat for 40 s and more. Here:
 *
 * - headers must be complete within HTTP_HEADERS_TIMEOUT_MS (10 s), and a body within HTTP_REQUEST_TIMEOUT_MS (30 s;
 *   a JSON body is at most 100 KB), both checked every second rather than every 30 s;
 * - uploads are exempt from the request timeout: a legitimate 50 MB file at the 1 KB/s pace floor takes 14 hours,
 *   and what bounds an upload is its pace (plugins/streaming-uploads.ts cuts off a client slower than
 *   UPLOAD_MIN_BYTES_PER_SEC over any window), so the plugin exempts a request once it watches its pace;
 * - at most MAX_CONNECTIONS client connections are open at once; one more is answered `503` with a JSON body at
 *   once and closed, so a flood is refused quickly and clearly instead of leaving clients hanging or exhausting the
 *   process's file descriptors.
 *
 * Hand-written because Node has no per-request exemption from `requestTimeout` and its own `maxConnections` drops
 * the connection without a word; both are small and use only Node's documented events.
 */
import { type IncomingMessage, type Server, type ServerOptions, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface ServerLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
}

/** How long a connection refused over the cap may take to read its answer before it is closed. */
const REFUSAL_LINGER_MS = 1_000;

/** The options createServer takes for these limits. */
export function serverOptions(limits: ServerLimits): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // Node checks both timeouts only this often (30 s by default): a timed-out client would sit until the next
    // check. A second costs one walk over the open connections' list in C++.
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 2))),
  };
}

/** Sockets whose current request is an upload bounded by its pace (see exemptFromRequestTimeout). */
const pacedUploads = new WeakSet<Duplex>();

/**
 * The request's body may take longer than HTTP_REQUEST_TIMEOUT_MS: its pace is watched instead. Ends with the
 * request (a later request on the same connection is timed as usual).
 */
export function exemptFromRequestTimeout(req: IncomingMessage): void {
  const socket = req.socket;
  pacedUploads.add(socket);
  const done = () => pacedUploads.delete(socket);
  req.once('end', done);
  req.once('close', done);
}

/** Applies the connection cap and the timeouts' exemption to `server`; returns the open connections' count. */
export function enforceServerLimits(server: Server, limits: ServerLimits): () => number {
  server.on('clientError', answerClientError);
  return capConnections(server, limits.maxConnections);
}

/**
 * As Node answers a client error when nothing listens for it (a status line, then the connection closed), except a
 * request timeout on an upload whose pace is watched: that request goes on (Node has already taken it off its
 * list of timed requests; the next request on the connection is timed again).
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' && pacedUploads.has(socket)) return;
  if (socket.writable && error.code !== 'ECONNRESET') socket.write(statusLine(error.code));
  socket.destroy();
}

function statusLine(code: string | undefined): string {
  const status =
    code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 408
      : code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
          ? 413
          : 400;
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`;
}

/**
 * At most `max` client connections at once (WebSockets included: an upgraded connection stays open). Node's HTTP
 * server parses every socket handed to its 'connection' listener, so that listener (installed by createServer) is
 * called from here, and only for connections under the cap.
 */
function capConnections(server: Server, max: number): () => number {
  let open = 0;
  const serveHttp = server.listeners('connection') as Array<(this: Server, socket: Socket) => void>;
  server.removeAllListeners('connection');
  const refusal = refusalAnswer(max);
  server.on('connection', (socket: Socket) => {
    if (open >= max) return refuse(socket, refusal);
    open += 1;
    socket.once('close', () => {
      open -= 1;
    });
    for (const listener of serveHttp) listener.call(server, socket);
  });
  return () => open;
}

function refusalAnswer(max: number): string {
  const body = JSON.stringify({
    code: 'RATE_LIMITED',
    message: `This gateway instance has its ${max} connections open (MAX_CONNECTIONS): retry in a moment`,
  });
  return (
    'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n' +
    `Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/**
 * The answer, then the connection closed. What the client sends meanwhile is read and dropped (closing a socket
 * with unread data resets it, and the client could lose the answer with it), for a second at most.
 */
function refuse(socket: Socket, answer: string): void {
  socket.on('error', ignore);
  socket.end(answer);
  socket.resume();
  setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
}

function ignore(): void {}
