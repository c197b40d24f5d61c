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
 * MAX_CONCURRENT_UPLOADS (and its per-credential share) is checked before a byte of the body is read. The pace
 * check (upload-pace.ts) bounds a slow client, so such a request is exempt from HTTP_REQUEST_TIMEOUT_MS.
 *
 * Nothing a client does here may stop the process: the file stream has an 'error' listener from birth (a resolver
 * may refuse its arguments and never read it, and the pace check, the size limit or the client going away then
 * fail it with no reader), and everything tied to the request ends when its answer is out: the pace check stops,
 * the file is closed, and what the client still sends is read and dropped for at most one UPLOAD_RATE_WINDOW_MS
 * (so it can read the answer), then the connection is closed. A client cut off for its pace is closed at once.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';
import type { GatewayError } from '../errors.ts';
import { exemptFromRequestTimeout } from '../server-limits.ts';
import { Upload, uploadTooLarge } from '../upload.ts';
import type { UploadSlots } from '../upload-slots.ts';
import { Credential, parseAuthorization } from '../upstream/credential.ts';
import { MAX_JSON_BODY_BYTES } from './body-limit.ts';
import {
  badRequest,
  type FileMap,
  fileLowerBound,
  type Operations,
  parseMap,
  parseOperations,
  setPath,
} from './multipart-operations.ts';
import { tooSlow, type UploadPace, watchPace } from './upload-pace.ts';

export type { UploadPace } from './upload-pace.ts';

/** `operations` is the GraphQL request a JSON body would carry, held to the same limit; `map` is smaller still. */
const MAX_FIELD_BYTES = MAX_JSON_BODY_BYTES;
/** Everything around the file: the two fields, part headers, boundaries. */
const ENVELOPE_BYTES = 2 * MAX_FIELD_BYTES + 16 * 1024;
/** How much of the body's start is kept to locate the file part's first byte. */
const MAX_PREFIX_BYTES = ENVELOPE_BYTES;

const DEFAULT_PACE: UploadPace = { minBytesPerSec: 1024, windowMs: 30_000 };

export interface StreamingUploadOptions {
  maxUploadBytes: number;
  pace?: UploadPace;
  /** The concurrent-upload caps; none: uncapped. */
  slots?: UploadSlots;
  /** EPMWARE_TOKEN: whose uploads a request without a token counts as. */
  serviceToken?: string | null;
}

function tooLarge(maxUploadBytes: number) {
  return createGraphQLError(
    `Request body too large: a file may be at most ${maxUploadBytes} bytes (MAX_UPLOAD_BYTES)`,
    {
      extensions: { code: 'PAYLOAD_TOO_LARGE', http: { status: 413 } },
    },
  );
}

function overCap(error: GatewayError) {
  return createGraphQLError(error.message, { extensions: { code: error.code, http: { status: 429 } } });
}

export function streamingUploadsPlugin(options: StreamingUploadOptions): Plugin<Context> {
  const { maxUploadBytes, slots, serviceToken = null } = options;
  const pace = options.pace ?? DEFAULT_PACE;
  return {
    onRequestParse({ request, serverContext, setRequestParser }) {
      if (request.method !== 'POST') return;
      if (!request.headers.get('content-type')?.toLowerCase().startsWith('multipart/form-data')) return;
      const { req, res } = serverContext as Record<string, unknown>;
      // Outside Node's http server Yoga's own (buffering) parser stays in charge; the File scalar copes with both.
      if (!(req instanceof IncomingMessage) || !(res instanceof ServerResponse)) return;
      // Refused before a byte is read: what a client declares beyond a full file and its envelope, and an upload
      // over a cap. Whatever the client still sends is dropped for a moment, then the connection closes.
      const declared = Number(request.headers.get('content-length'));
      if (declared > maxUploadBytes + ENVELOPE_BYTES) {
        lingerAfterAnswer(req, res, pace.windowMs);
        throw tooLarge(maxUploadBytes);
      }
      const release = slots?.claim(credentialKey(req.headers.authorization, serviceToken));
      if (release && typeof release !== 'function') {
        lingerAfterAnswer(req, res, pace.windowMs);
        throw overCap(release);
      }
      // The slot is held until the answer is out or the client has gone.
      if (release) res.once('close', release);
      setRequestParser(() => parseMultipart(req, res, maxUploadBytes, pace));
    },
  };
}

/** Whose upload this is, for the per-credential cap: never the token itself. */
function credentialKey(authorization: string | undefined, serviceToken: string | null): string {
  const parsed = parseAuthorization(authorization);
  // A malformed Authorization, or none without EPMWARE_TOKEN, is refused by the resolver; until then these
  // requests share one key.
  if (parsed.kind === 'malformed') return 'malformed';
  const token = parsed.kind === 'token' ? parsed.token : serviceToken;
  return token ? new Credential(token).fingerprint : 'anonymous';
}

/**
 * Once the answer is out (or the client has gone), an unread rest of the body is read and dropped, so the client,
 * still sending, can read the answer; but for at most `lingerMs`, after which the connection is closed.
 */
function lingerAfterAnswer(req: IncomingMessage, res: ServerResponse, lingerMs: number): void {
  res.once('close', () => {
    if (req.complete || req.destroyed) return;
    req.resume();
    const timer = setTimeout(() => req.socket.destroy(), lingerMs);
    timer.unref();
    req.once('end', () => clearTimeout(timer));
    req.once('close', () => clearTimeout(timer));
  });
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
  // Its pace is watched from here on, which bounds it better than a total would (see server-limits.ts).
  if (pace.minBytesPerSec > 0) exemptFromRequestTimeout(req);

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

    const stopPace = watchPace(req, pace, () => {
      cutOff = true;
      const error = tooSlow(pace);
      if (!res.headersSent) res.setHeader('connection', 'close');
      fileStream?.destroy(error);
      fail(badRequest(error.message));
      // Whatever happens to the answer, the connection does not outlive one more window.
      setTimeout(() => req.socket.destroy(), pace.windowMs).unref();
    });

    // The answer is out, or the client has gone: nothing more of the file will be read. A resolver that refused its
    // arguments never read it; a client cut off for its pace is not drained (that is what it would hold the
    // connection with): it is closed.
    res.once('close', () => {
      stopPace();
      if (fileStream && !fileStream.readableEnded) fileStream.destroy();
      if (req.complete || req.destroyed) return;
      req.unpipe(parser);
      if (cutOff) req.socket.destroy();
    });
    lingerAfterAnswer(req, res, pace.windowMs);
    req.once('close', () => {
      if (req.complete) return;
      fileStream?.destroy(new Error('The client closed the request before the file was sent'));
      fail(badRequest('The client closed the request before it was complete'));
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
      // From birth, before anything else can fail it (see the header comment).
      stream.on('error', ignore);
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
        minBytes: fileLowerBound(
          req.headers['content-length'],
          Buffer.concat(prefix),
          boundaryText,
          fieldName,
        ),
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

function ignore(): void {}
