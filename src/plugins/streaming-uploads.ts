/**
 * The GraphQL multipart request spec, parsed as the request arrives. Yoga's own parser (whatwg-node's
 * `request.formData()`) collects every file part in memory before execution starts, so a 200 MB upload would cost
 * 200 MB of heap; this parser hands the resolver an `Upload` as soon as the file part begins, and the file's bytes
 * flow from the client's socket to EPMware's with only stream buffers in between.
 *
 * Hand-written on busboy because neither Yoga nor graphql-upload offers it: graphql-upload spools files to disk.
 *
 * Limits: one file per request (the schema takes one per mutation); a file over MAX_UPLOAD_BYTES is refused before
 * it is read when the request's Content-Length proves it (see fileLowerBound), and cut off mid-stream otherwise.
 * Whatever part of the body a resolver leaves unread is drained once the response is sent, so the connection stays
 * usable and the client, still sending, gets to read the answer.
 *
 * Pace: a client that sends slower than UPLOAD_MIN_BYTES_PER_SEC, averaged over UPLOAD_RATE_WINDOW_MS, is cut off
 * (its file fails with BAD_USER_INPUT and its connection is closed), so a 1 byte/s client cannot hold a connection
 * and an upstream request open for minutes. Windows in which the gateway itself held the client back (backpressure
 * from a slow EPMware) do not count against it. The upstream side is bounded by progress too (upstream/client.ts).
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { createGraphQLError, type GraphQLParams, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { Upload, uploadTooLarge } from '../upload.ts';
import { MAX_JSON_BODY_BYTES } from './body-limit.ts';

/** `operations` is the GraphQL request a JSON body would carry, held to the same limit; `map` is smaller still. */
const MAX_FIELD_BYTES = MAX_JSON_BODY_BYTES;
/** Everything around the file: the two fields, part headers, boundaries. */
const ENVELOPE_BYTES = 2 * MAX_FIELD_BYTES + 16 * 1024;
/** How much of the body's start is kept to locate the file part's first byte. */
const MAX_PREFIX_BYTES = ENVELOPE_BYTES;
/** After the closing delimiter, browsers, undici and curl send exactly CRLF. */
const EPILOGUE_BYTES = 2;

type Operations = GraphQLParams | GraphQLParams[];
type FileMap = Record<string, string[]>;

function badRequest(message: string) {
  return createGraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } });
}

function tooLarge(maxUploadBytes: number) {
  return createGraphQLError(
    `Request body too large: a file may be at most ${maxUploadBytes} bytes (MAX_UPLOAD_BYTES)`,
    {
      extensions: { code: 'PAYLOAD_TOO_LARGE', http: { status: 413 } },
    },
  );
}

/** The slowest pace an upload may keep: fewer than minBytesPerSec over a whole window cuts it off (0: never). */
export interface UploadPace {
  minBytesPerSec: number;
  windowMs: number;
}

const DEFAULT_PACE: UploadPace = { minBytesPerSec: 1024, windowMs: 30_000 };

function tooSlow(pace: UploadPace): GatewayError {
  return new GatewayError(
    'BAD_USER_INPUT',
    `The upload was cut off: it sent fewer than ${pace.minBytesPerSec} bytes/s over ${pace.windowMs} ms ` +
      '(UPLOAD_MIN_BYTES_PER_SEC, UPLOAD_RATE_WINDOW_MS)',
  );
}

export function streamingUploadsPlugin(
  maxUploadBytes: number,
  pace: UploadPace = DEFAULT_PACE,
): Plugin<Context> {
  return {
    onRequestParse({ request, serverContext, setRequestParser }) {
      if (request.method !== 'POST') return;
      if (!request.headers.get('content-type')?.toLowerCase().startsWith('multipart/form-data')) return;
      const { req, res } = serverContext as Record<string, unknown>;
      // Outside Node's http server Yoga's own (buffering) parser stays in charge; the File scalar copes with both.
      if (!(req instanceof IncomingMessage) || !(res instanceof ServerResponse)) return;
      // Refused before a byte is read: what a client declares beyond a full file and its envelope.
      const declared = Number(request.headers.get('content-length'));
      if (declared > maxUploadBytes + ENVELOPE_BYTES) throw tooLarge(maxUploadBytes);
      setRequestParser(() => parseMultipart(req, res, maxUploadBytes, pace));
    },
  };
}

function parseMultipart(
  req: IncomingMessage,
  res: ServerResponse,
  maxUploadBytes: number,
  pace: UploadPace,
): Promise<Operations> {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(req.headers['content-type'] ?? '');
  const boundaryText = boundary?.[1] ?? boundary?.[2];
  if (!boundaryText) throw badRequest('multipart/form-data request without a boundary');
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      // busboy reports 'limit' when a file *reaches* fileSize, so one byte more than allowed.
      limits: { fileSize: maxUploadBytes + 1, files: 1, fields: 4, parts: 8, fieldSize: MAX_FIELD_BYTES },
    });
  } catch (error) {
    throw badRequest(`Malformed multipart request: ${(error as Error).message}`);
  }

  // The body's first bytes, to find where the file's data starts (see fileLowerBound).
  const prefix: Buffer[] = [];
  let prefixBytes = 0;
  const capture = (chunk: Buffer) => {
    prefix.push(chunk);
    prefixBytes += chunk.length;
    if (prefixBytes > MAX_PREFIX_BYTES) req.off('data', capture);
  };
  req.on('data', capture);

  let fileStream: Readable | undefined;
  let cutOff = false;
  // A resolver that refused its arguments never reads the file: drain what is left once the answer is out. A
  // client cut off for its pace is not drained (that is what it would hold the connection with): it is closed.
  res.once('close', () => {
    if (req.complete) return;
    req.unpipe(parser);
    if (cutOff) req.socket.destroy();
    else req.resume();
  });
  req.once('close', () => {
    if (!req.complete)
      fileStream?.destroy(new Error('The client closed the request before the file was sent'));
  });

  return new Promise<Operations>((resolve, reject) => {
    let operations: Operations | undefined;
    let map: FileMap | undefined;
    let settled = false;
    const succeed = (value: Operations) => {
      if (settled) return;
      settled = true;
      req.off('data', capture);
      resolve(value);
    };
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      req.off('data', capture);
      reject(error);
    };

    watchPace(req, pace, () => {
      cutOff = true;
      const error = tooSlow(pace);
      if (!res.headersSent) res.setHeader('connection', 'close');
      fileStream?.destroy(error);
      fail(badRequest(error.message));
      // Whatever happens to the answer, the connection does not outlive one more window.
      setTimeout(() => req.socket.destroy(), pace.windowMs).unref();
    });

    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(badRequest(`Multipart field "${name}" is too large`));
      try {
        if (name === 'operations') operations = parseOperations(value);
        if (name === 'map') {
          map = parseMap(value);
          const files = Object.keys(map).length;
          if (files > 1) fail(badRequest('One file per request'));
          else if (files === 0 && operations) succeed(operations);
        }
      } catch (error) {
        fail(error);
      }
    });

    parser.on('file', (fieldName, stream, info) => {
      const paths = map?.[fieldName];
      if (settled || !operations || !paths) {
        stream.resume();
        if (!operations || !map)
          fail(badRequest('The "operations" and "map" fields must come before the files'));
        return;
      }
      fileStream = stream;
      const upload = new Upload({
        name: info.filename ?? fieldName,
        type: info.mimeType,
        minBytes: fileLowerBound(req, Buffer.concat(prefix), boundaryText, fieldName),
        source: stream,
      });
      stream.once('limit', () => {
        upload.markTooLarge();
        stream.destroy(uploadTooLarge(maxUploadBytes));
      });
      for (const path of paths) setPath(operations, path, upload);
      succeed(operations);
    });

    parser.on('close', () => {
      if (!operations) return fail(badRequest('Missing multipart field "operations"'));
      const missing = Object.keys(map ?? {})[0];
      if (missing !== undefined) return fail(badRequest(`The file "${missing}" named in "map" was not sent`));
      succeed(operations);
    });
    parser.on('error', (error: Error) => {
      fileStream?.destroy(error);
      fail(badRequest(`Malformed multipart request: ${error.message}`));
    });
    parser.on('filesLimit', () => fail(badRequest('One file per request')));
    parser.on('fieldsLimit', () => fail(badRequest('Too many multipart fields')));
    parser.on('partsLimit', () => fail(badRequest('Too many multipart parts')));
    req.pipe(parser);
  });
}

/**
 * Calls `tooSlow` once if a whole window passes in which the client sent fewer than the floor's bytes while the
 * gateway was reading (a window with backpressure, req paused, is not held against the client).
 */
function watchPace(req: IncomingMessage, pace: UploadPace, tooSlow: () => void): void {
  if (pace.minBytesPerSec <= 0) return;
  const floorBytes = (pace.minBytesPerSec * pace.windowMs) / 1000;
  let received = 0;
  let heldBack = req.isPaused();
  const onData = (chunk: Buffer) => {
    received += chunk.length;
  };
  const onPause = () => {
    heldBack = true;
  };
  const timer = setInterval(() => {
    if (req.complete) return stop();
    if (!heldBack && received < floorBytes) {
      stop();
      tooSlow();
      return;
    }
    received = 0;
    heldBack = req.isPaused();
  }, pace.windowMs);
  timer.unref();
  const stop = () => {
    clearInterval(timer);
    req.off('data', onData);
    req.off('pause', onPause);
  };
  req.on('data', onData);
  req.on('pause', onPause);
  req.once('end', stop);
  req.once('close', stop);
}

function parseOperations(text: string): Operations {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest('Multipart field "operations" must be JSON');
  }
  const isObject = (item: unknown) => typeof item === 'object' && item !== null && !Array.isArray(item);
  // The shape of each request is Yoga's to check, as for a JSON body.
  if (isObject(value)) return value as GraphQLParams;
  if (Array.isArray(value) && value.every(isObject)) return value as GraphQLParams[];
  throw badRequest('Multipart field "operations" must be a GraphQL request object or a batch of them');
}

function parseMap(text: string): FileMap {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest('Multipart field "map" must be JSON');
  }
  const valid =
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every(
      (paths) => Array.isArray(paths) && paths.every((path) => typeof path === 'string'),
    );
  if (!valid) throw badRequest('Multipart field "map" must map file fields to lists of paths');
  return value as FileMap;
}

/** Puts the upload where `map` says, e.g. "variables.file" or "0.variables.file" in a batch. */
function setPath(target: object, path: string, upload: Upload): void {
  const keys = path.split('.');
  let current = target as Record<string, unknown>;
  for (const [index, key] of keys.entries()) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') return;
    if (index === keys.length - 1) {
      current[key] = upload;
      return;
    }
    const next = current[key];
    if (typeof next !== 'object' || next === null) return;
    current = next as Record<string, unknown>;
  }
}

/**
 * The file's size, known before reading it: with one file, sent last as the spec orders the parts, the body is
 * [prefix up to the file's first byte][file][CRLF--boundary--][CRLF], so Content-Length gives the file's length
 * exactly. The prefix holds the file part's headers (busboy has just parsed them from it). 0 when there is no
 * Content-Length (a chunked request) or the file part cannot be found: the streaming limit still applies.
 */
function fileLowerBound(req: IncomingMessage, prefix: Buffer, boundary: string, fieldName: string): number {
  const contentLength = Number(req.headers['content-length']);
  if (!Number.isSafeInteger(contentLength)) return 0;
  const dataStart = fileDataOffset(prefix, boundary, fieldName);
  if (dataStart === undefined) return 0;
  const closing = Buffer.byteLength(`\r\n--${boundary}--`);
  return Math.max(0, contentLength - dataStart - closing - EPILOGUE_BYTES);
}

/** Where the named file part's data starts in the body; a boundary never occurs inside a part, so this is exact. */
function fileDataOffset(prefix: Buffer, boundary: string, fieldName: string): number | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  for (let at = prefix.indexOf(delimiter); at !== -1; ) {
    const headersStart = at + delimiter.length + 2;
    const headersEnd = prefix.indexOf('\r\n\r\n', headersStart);
    if (headersEnd === -1) return undefined;
    const headers = prefix.subarray(headersStart, headersEnd).toString('latin1');
    const disposition = /^content-disposition:(.*)$/im.exec(headers)?.[1] ?? '';
    const name = /(?:^|;)\s*name=(?:"([^"]*)"|([^;\s]*))/i.exec(disposition);
    if ((name?.[1] ?? name?.[2]) === fieldName && /;\s*filename\*?=/i.test(disposition))
      return headersEnd + 4;
    at = prefix.indexOf(delimiter, headersEnd + 4);
  }
  return undefined;
}
