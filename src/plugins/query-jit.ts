/**
 * Queries run compiled by graphql-jit (@envelop/graphql-jit): the document is compiled once into a function that
 * resolves it without graphql-js' per-field interpretation (argument coercion, path bookkeeping, type checks).
 * On a 1,000-user list that interpretation cost more CPU than the gateway's own work; bench/list.ts measures it.
 *
 * Only queries: mutations and subscriptions keep Yoga's executor, so their ordering, streaming and error
 * behaviour stay exactly as tested. Errors, masking and limits do not change either: parse and validation (where
 * the query limits live) run before execution, and Yoga masks whatever errors the result carries.
 * Compiled documents are kept per parsed document (a WeakMap in the plugin), so they live as long as Yoga's
 * bounded parse cache keeps the document.
 */
import { useGraphQlJit } from '@envelop/graphql-jit';
import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';

export function queryJitPlugin(): Plugin<Context> {
  return useGraphQlJit(
    {},
    {
      enableIf: (args) => getOperationAST(args.document, args.operationName)?.operation === 'query',
    },
  ) as Plugin<Context>;
}
