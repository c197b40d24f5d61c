/**
 * The text parts of a GraphQL multipart request (the spec's `operations` and `map` fields), where the file goes in
 * them, and where the file's bytes start in the body (to know its size before reading it).
 */
import { createGraphQLError, type GraphQLParams } from 'graphql-yoga';
import type { Upload } from '../upload.ts';

export type Operations = GraphQLParams | GraphQLParams[];
export type FileMap = Record<string, string[]>;

/** After the closing delimiter, browsers, undici and curl send exactly CRLF. */
const EPILOGUE_BYTES = 2;

export function badRequest(message: string) {
  return createGraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } });
}

export function parseOperations(text: string): Operations {
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

export function parseMap(text: string): FileMap {
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
export function setPath(target: object, path: string, upload: Upload): void {
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
export function fileLowerBound(
  contentLengthHeader: string | undefined,
  prefix: Buffer,
  boundary: string,
  fieldName: string,
): number {
  const contentLength = Number(contentLengthHeader);
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
