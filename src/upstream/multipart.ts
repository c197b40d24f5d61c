/**
 * A multipart/form-data request body built as a stream: the text fields, then the file part piped from its source,
 * then the closing delimiter. Nothing is buffered beyond the source's own chunks, so an upload of any size costs
 * the same memory. Hand-written because undici's FormData takes a Blob (a whole file), not a stream.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export interface MultipartFile {
  fieldName: string;
  filename: string;
  contentType: string;
  stream: Readable;
}

export interface MultipartBody {
  stream: Readable;
  contentType: string;
}

/** Quotes in a header parameter as the WHATWG FormData encoding writes them. */
function quoted(value: string): string {
  return `"${value.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}"`;
}

/** A client's content type goes into a header line: anything that could break the line is dropped. */
function safeContentType(value: string): string {
  const cleaned = value.replace(/[\r\n]/g, '').trim();
  return cleaned === '' ? 'application/octet-stream' : cleaned;
}

/** `fields` in order; an undefined value leaves its field out. */
export function multipartBody(
  fields: Array<[name: string, value: string | undefined]>,
  file: MultipartFile,
): MultipartBody {
  // Random, so no file's content can contain it by accident.
  const boundary = `----EpmGatewayBoundary${randomBytes(16).toString('hex')}`;
  let head = '';
  for (const [name, value] of fields) {
    if (value === undefined) continue;
    head += `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(name)}\r\n\r\n${value}\r\n`;
  }
  head +=
    `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(file.fieldName)}; filename=${quoted(file.filename)}\r\n` +
    `Content-Type: ${safeContentType(file.contentType)}\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;

  // An error of the source (the client went away, the file went over the limit) ends this stream with that error,
  // which aborts the upstream request; destroying this stream (undici giving up) destroys the source in turn.
  async function* parts(): AsyncGenerator<Buffer> {
    yield Buffer.from(head, 'utf8');
    yield* file.stream;
    yield Buffer.from(tail, 'utf8');
  }
  const stream = Readable.from(parts(), { objectMode: false });
  // From birth: undici, which reads this body, learns of its failure through its own pipe; a body never sent (the
  // call was refused before it left: the breaker, the budget, the deadline) must not stop the process by failing.
  stream.on('error', ignore);
  // A body not sent whole frees its file: an open file would hold the client's connection (the generator releases
  // it only if it had started reading it).
  stream.once('close', () => {
    if (!file.stream.readableEnded) file.stream.destroy();
  });
  return { stream, contentType: `multipart/form-data; boundary=${boundary}` };
}

function ignore(): void {}
