/**
 * Queries run compiled by graphql-jit (@envelop/graphql-jit): the document is compiled once into a function that
 * resolves it without graphql-js' per-field interpretation (argument coercion, path bookkeeping, type checks).
 * On a 1,000-user list that interpretation cost more CPU than the gateway's own work; bench/list.ts measures it.
 *
 * Only queries whose variables are scalars, enums or lists of them: mutations and subscriptions keep Yoga's
 * executor, so their ordering, streaming and error behaviour stay exactly as tested, and graphql-jit 0.8 cannot
 * compile a variable of a recursive input type (UserFilter's and/or/not: it recurses until the stack overflows),
 * so a query with an input-object variable keeps it too, and so does a document holding several operations (the
 * plugin caches one compiled operation per document, whichever operationName asked first). Errors, masking and limits do not change: parse and
 * validation (where the query limits live) run before execution, and Yoga masks whatever errors the result carries.
 * Compiled documents are kept per parsed document (a WeakMap in the plugin), so they live as long as Yoga's
 * bounded parse cache keeps the document; the decision is memoized the same way.
 */
import { useGraphQlJit } from '@envelop/graphql-jit';
import {
  BREAK,
  type DocumentNode,
  type GraphQLSchema,
  getOperationAST,
  isInputObjectType,
  type TypeNode,
  visit,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';

export function queryJitPlugin(): Plugin<Context> {
  const decisions = new WeakMap<DocumentNode, Map<string, boolean>>();
  const compilable = (
    schema: GraphQLSchema,
    document: DocumentNode,
    operationName: string | null | undefined,
  ): boolean => {
    let byName = decisions.get(document);
    if (!byName) {
      byName = new Map();
      decisions.set(document, byName);
    }
    const key = operationName ?? '';
    let decision = byName.get(key);
    if (decision === undefined) {
      const operation = getOperationAST(document, operationName);
      const operations = document.definitions.filter(
        (definition) => definition.kind === 'OperationDefinition',
      );
      decision =
        operations.length === 1 &&
        operation?.operation === 'query' &&
        !usesIncrementalDelivery(document) &&
        (operation.variableDefinitions ?? []).every((variable) => {
          const type = schema.getType(namedType(variable.type));
          return type !== undefined && !isInputObjectType(type);
        });
      byName.set(key, decision);
    }
    return decision;
  };
  return useGraphQlJit(
    {},
    { enableIf: (args) => compilable(args.schema, args.document, args.operationName) },
  ) as Plugin<Context>;
}

function namedType(type: TypeNode): string {
  return type.kind === 'NamedType' ? type.name.value : namedType(type.type);
}

/** @defer/@stream need Yoga's executor (incremental delivery); graphql-jit would answer them in one payload. */
function usesIncrementalDelivery(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Directive(node) {
      if (node.name.value !== 'defer' && node.name.value !== 'stream') return undefined;
      found = true;
      return BREAK;
    },
  });
  return found;
}
