/**
 * A size limit for JSON (and other non-multipart) GraphQL requests. Yoga has one request-size limit for every
 * content type; uploads need tens of megabytes (MAX_UPLOAD_BYTES), a GraphQL document never needs more than a few
 * kilobytes, so this plugin gives non-multipart bodies their own, much smaller limit. Hand-written because Yoga's
 * `maxRequestBodySize` cannot tell the two apart.
 */
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';

export const MAX_JSON_BODY_BYTES = 100 * 1024;

function tooLarge(limit: number) {
  return createGraphQLError(
    `Request body too large: GraphQL requests are limited to ${Math.round(limit / 1024)} KB (files go in a multipart upload)`,
    { extensions: { code: 'PAYLOAD_TOO_LARGE', http: { status: 413 } } },
  );
}

function isMultipart(request: Request): boolean {
  return request.headers.get('content-type')?.toLowerCase().startsWith('multipart/form-data') ?? false;
}

/** Reads at most `limit` bytes; a longer body (chunked, or lying about its length) is refused part-way. */
async function readLimited(body: ReadableStream<Uint8Array>, limit: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

export function jsonBodyLimitPlugin(limit: number = MAX_JSON_BODY_BYTES): Plugin<Context> {
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      if (isMultipart(request)) return;
      const declared = request.headers.get('content-length');
      if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
      const parse = requestParser;
      if (!parse || !request.body) return;
      setRequestParser(async (incoming) => {
        if (!incoming.body) return parse(incoming);
        const body = new Uint8Array(await readLimited(incoming.body, limit));
        return parse(
          new fetchAPI.Request(incoming.url, { method: incoming.method, headers: incoming.headers, body }),
        );
      });
    },
  };
}
