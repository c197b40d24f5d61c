/**
 * Every error a client sees carries one of the contract's `extensions.code` values. Yoga and graphql-js use a few
 * names of their own for request-level failures; this maps them just before the response is written.
 *
 * Variables that are missing, of the wrong type or not coercible are the client's mistake: BAD_USER_INPUT with
 * HTTP 400 (contract, "Errors"). graphql-js reports them without any code, and graphql-jit (plugins/query-jit.ts)
 * with errors of its own class that have no `extensions` at all and cannot be given any (the property is
 * read-only): those are rebuilt as the gateway's own errors once execution is done, which HTTP and the WebSocket
 * transport both go through.
 */
import {
  type DocumentNode,
  type ExecutionResult,
  type GraphQLError,
  Kind,
  type VariableDefinitionNode,
} from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';

/** Yoga's names -> the contract's. */
const CONTRACT_CODE: Record<string, string> = {
  // Invalid JSON, no `query`, a non-string `query`: the request cannot be read as a GraphQL request.
  BAD_REQUEST: 'GRAPHQL_PARSE_FAILED',
  REQUEST_ENTITY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  // `operationName` names no operation in the document.
  OPERATION_RESOLUTION_FAILURE: 'GRAPHQL_VALIDATION_FAILED',
};

/** graphql-js' and graphql-jit's coercion messages both begin so: `Variable "$id" of required type …`. */
const VARIABLE_ERROR = /^Variable "\$([_A-Za-z][_0-9A-Za-z]*)"/;

/** A variable's coercion failure: raised before execution, so it has no path and no code of its own. */
function isVariableError(error: GraphQLError): boolean {
  return (
    error.path === undefined && error.extensions?.code === undefined && VARIABLE_ERROR.test(error.message)
  );
}

function contractCode(error: GraphQLError): string | undefined {
  // Optional chaining: graphql-jit's own GraphQLError (its variable errors) carries no extensions object.
  const code = error.extensions?.code;
  const status = error.extensions?.http?.status;
  if (typeof code === 'string') {
    // A mutation sent with GET is well-formed but must be a POST.
    if (code === 'BAD_REQUEST' && status === 405) return 'BAD_USER_INPUT';
    return CONTRACT_CODE[code];
  }
  // No code at all: the CSRF refusal (403).
  if (status === 403) return 'FORBIDDEN';
  return undefined;
}

/** The variable's definition in the document, so the rebuilt error points where graphql-js' would. */
function definitionOf(document: DocumentNode | undefined, name: string): VariableDefinitionNode[] {
  for (const definition of document?.definitions ?? []) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    const found = definition.variableDefinitions?.find((variable) => variable.variable.name.value === name);
    if (found) return [found];
  }
  return [];
}

/** The variable errors of a result as BAD_USER_INPUT (HTTP 400), the others as they were; null when none. */
function withVariableErrors(
  result: ExecutionResult,
  document: DocumentNode | undefined,
): ExecutionResult | null {
  if (!result.errors?.some(isVariableError)) return null;
  const errors = result.errors.map((error) => {
    if (!isVariableError(error)) return error;
    const name = VARIABLE_ERROR.exec(error.message)?.[1] ?? '';
    return createGraphQLError(error.message, {
      nodes: definitionOf(document, name),
      extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
    });
  });
  return { ...result, errors };
}

export function contractCodesPlugin(): Plugin<Context> {
  return {
    onExecute({ args }) {
      return {
        onExecuteDone({ result, setResult }) {
          // A stream's errors come from resolvers, which already carry contract codes.
          if (Symbol.asyncIterator in result) return;
          const mapped = withVariableErrors(result, args.document);
          if (mapped) setResult(mapped);
        },
      };
    },
    onSubscribe({ args }) {
      return {
        onSubscribeResult({ result, setResult }) {
          if (Symbol.asyncIterator in result) return;
          const mapped = withVariableErrors(result, args.document);
          if (mapped) setResult(mapped);
        },
      };
    },
    onResultProcess({ result }) {
      // Streams (SSE, subscriptions) carry resolver errors, which already have contract codes.
      if (Symbol.asyncIterator in result) return;
      for (const single of Array.isArray(result) ? result : [result]) {
        for (const error of single.errors ?? []) {
          const code = contractCode(error);
          // Yoga itself writes codes into extensions the same way (its `extensions.code ||= ...`).
          if (code && error.extensions) (error.extensions as Record<string, unknown>).code = code;
        }
      }
    },
  };
}
