/**
 * Request bodies Yoga cannot read as GraphQL get an answer that says how to send one. `curl -d '{"query":…}'`
 * without a Content-Type header sends a form (application/x-www-form-urlencoded), which Yoga reads as a form whose
 * one field is named after the whole JSON text, and answers "Must provide query string." or "Unexpected
 * parameter"; a text/plain body gets an empty 415. Both say what went wrong, neither says what to do.
 */
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';

const SEND_JSON =
  "send the request as JSON with the header 'Content-Type: application/json' (curl: -H 'content-type: application/json')";

/** Fields that make a request body a GraphQL request (a document, or a persisted document's id). */
const REQUEST_FIELDS = ['query', 'documentId', 'extensions'];

function wrongContentType(contentType: string | null, status: number) {
  const sent = contentType ? `Content-Type '${contentType.split(';')[0]}'` : 'no Content-Type';
  return createGraphQLError(
    `The request body could not be read as GraphQL (it was sent with ${sent}): ${SEND_JSON}`,
    {
      extensions: { code: 'GRAPHQL_PARSE_FAILED', http: { status } },
    },
  );
}

/** A form whose fields carry no GraphQL request: typically JSON sent without its Content-Type. */
function isFormWithoutRequest(params: unknown): boolean {
  if (typeof params !== 'object' || params === null) return false;
  const fields = params as Record<string, unknown>;
  return !REQUEST_FIELDS.some((name) => fields[name] != null && fields[name] !== '');
}

export function contentTypeHintPlugin(): Plugin<Context> {
  return {
    onRequestParse({ request, requestParser, setRequestParser }) {
      if (request.method !== 'POST') return;
      const contentType = request.headers.get('content-type');
      if (!requestParser) throw wrongContentType(contentType, 415);
      if (!contentType?.toLowerCase().startsWith('application/x-www-form-urlencoded')) return;
      const parse = requestParser;
      setRequestParser(async (incoming) => {
        const params = await parse(incoming);
        if (!Array.isArray(params) && isFormWithoutRequest(params)) throw wrongContentType(contentType, 400);
        return params;
      });
    },
  };
}
