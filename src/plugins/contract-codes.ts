/**
 * Every error a client sees carries one of the contract's `extensions.code` values. Yoga and graphql-js use a few
 * names of their own for request-level failures; this maps them just before the response is written.
 */
import type { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';

/** Yoga's names -> the contract's. */
const CONTRACT_CODE: Record<string, string> = {
  // Invalid JSON, no `query`, a non-string `query`: the request cannot be read as a GraphQL request.
  BAD_REQUEST: 'GRAPHQL_PARSE_FAILED',
  REQUEST_ENTITY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  // `operationName` names no operation in the document.
  OPERATION_RESOLUTION_FAILURE: 'GRAPHQL_VALIDATION_FAILED',
};

function contractCode(error: GraphQLError): string | undefined {
  const code = error.extensions.code;
  const status = error.extensions.http?.status;
  if (typeof code === 'string') {
    // A mutation sent with GET is well-formed but must be a POST.
    if (code === 'BAD_REQUEST' && status === 405) return 'BAD_USER_INPUT';
    return CONTRACT_CODE[code];
  }
  // No code at all: the CSRF refusal (403) and graphql-js' variable coercion errors.
  if (status === 403) return 'FORBIDDEN';
  if (error.message.startsWith('Variable "$')) return 'BAD_USER_INPUT';
  return undefined;
}

function mapErrors(errors: readonly GraphQLError[] | undefined): void {
  for (const error of errors ?? []) {
    const code = contractCode(error);
    // Yoga itself writes codes into extensions the same way (its `extensions.code ||= ...`).
    if (code) (error.extensions as Record<string, unknown>).code = code;
  }
}

export function contractCodesPlugin(): Plugin<Context> {
  return {
    onResultProcess({ result }) {
      // Streams (SSE, subscriptions) carry resolver errors, which already have contract codes.
      if (Symbol.asyncIterator in result) return;
      for (const single of Array.isArray(result) ? result : [result]) mapErrors(single.errors);
    },
  };
}
