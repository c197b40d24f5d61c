/**
 * A file sent in a GraphQL multipart request, as a resolver receives it (the `File` scalar's value). Its bytes are
 * read once, as they arrive from the client (plugins/streaming-uploads.ts), so a file passes through the gateway
 * to EPMware without being held in memory.
 */
import { Readable } from 'node:stream';
import { GatewayError, InputError } from './errors.ts';

export class Upload {
  /** The client's file name. */
  readonly name: string;
  /** The client's content type. */
  readonly type: string;
  /**
   * The file holds at least this many bytes, known before a byte of it is read (from the request's
   * Content-Length): enough to refuse an oversized file before EPMware sees anything. 0 when unknown.
   */
  readonly minBytes: number;
  #source: Readable | null;
  #tooLarge = false;

  constructor(options: { name: string; type: string; minBytes: number; source: Readable }) {
    this.name = options.name;
    this.type = options.type;
    this.minBytes = options.minBytes;
    this.#source = options.source;
    // From birth: the file fails (the client went away, the pace check or the size limit cut it off) whether or
    // not anything reads it. A reader learns of it through its own pipe; with no reader yet (a resolver that
    // refused its arguments, or never ran) an 'error' event without a listener would stop the process.
    options.source.on('error', ignore);
  }

  /** A file already held whole (Yoga's own multipart parser, outside Node's http server). */
  static fromBlob(blob: BlobLike): Upload {
    return new Upload({
      name: blob.name ?? 'upload',
      type: blob.type,
      minBytes: blob.size,
      // Readable.from, not fromWeb: whatwg-node's ponyfilled streams are async-iterable but not Node's web streams.
      source: Readable.from(blob.stream(), { objectMode: false }),
    });
  }

  /** The file's bytes, once: a stream cannot be replayed. */
  open(): Readable {
    const source = this.#source;
    if (!source)
      throw new InputError(`The file "${this.name}" was already used: send each file for one argument`);
    this.#source = null;
    return source;
  }

  get opened(): boolean {
    return this.#source === null;
  }

  /** The file turned out bigger than allowed while streaming (its size was not known up front). */
  get tooLarge(): boolean {
    return this.#tooLarge;
  }

  markTooLarge(): void {
    this.#tooLarge = true;
  }
}

function ignore(): void {}

export interface BlobLike {
  name?: string;
  type: string;
  size: number;
  stream(): AsyncIterable<Uint8Array>;
}

function isBlobLike(value: unknown): value is BlobLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { size?: unknown }).size === 'number' &&
    typeof (value as { stream?: unknown }).stream === 'function'
  );
}

/** The File scalar's input coercion. */
export function toUpload(value: unknown): Upload {
  if (value instanceof Upload) return value;
  if (isBlobLike(value)) return Upload.fromBlob(value);
  throw new InputError('A File argument must be a file part of a GraphQL multipart request');
}

export function uploadTooLarge(maxBytes: number): GatewayError {
  return new GatewayError(
    'PAYLOAD_TOO_LARGE',
    `The file is larger than the ${maxBytes} bytes allowed (MAX_UPLOAD_BYTES)`,
  );
}
