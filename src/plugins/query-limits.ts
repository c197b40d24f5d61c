/**
 * Query limits (graphql-armor): an abusive document is refused while it is parsed or validated, so it never costs
 * EPMware a request. Every refusal is an ordinary GraphQL validation error (`GRAPHQL_VALIDATION_FAILED`, HTTP 400)
 * saying which limit it crossed.
 *
 * The limits let the contract's legitimate shapes through with room to spare:
 * - depth 10: `users { edges { node { groups { users { groups { name } } } } } }` is 7, a deployment dashboard 3;
 *   fragments do not count as a level (Relay documents are made of them).
 * - cost 100 000 (armor's model: objects 2, scalars 1, each level ×1.5, a selection with `first: N` ×N):
 *   `users(first: 1000) { nodes { groups { users { groups { name } } } } }` costs ~34 000, so one page of 1,000
 *   users with two levels of memberships fits about three times over; thirty aliased copies do not.
 * - aliases 30: a dashboard with a tile per deployment (or `deployments(names: [...])`, which needs none).
 * - directives 50 (`@include`/`@skip` on every optional field of a large form).
 * - tokens 3 000: GraphiQL's full introspection query is under 200, a large Relay page document a few hundred.
 * Introspection (`__schema`) is exempt from depth and cost, so GraphiQL and code generators always load the schema.
 */
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import type { GraphQLError } from 'graphql';
import { createGraphQLError, type Plugin, type YogaInitialContext } from 'graphql-yoga';
import type { Context } from '../context.ts';

// armor's config types, taken from the plugin itself (their package is only a transitive dependency).
type ArmorConfig = NonNullable<Parameters<typeof EnvelopArmorPlugin>[0]>;
type RejectCallback = NonNullable<NonNullable<ArmorConfig['maxDepth']>['onReject']>[number];

export const QUERY_LIMITS = {
  maxDepth: 10,
  maxCost: 100_000,
  maxAliases: 30,
  maxDirectives: 50,
  maxTokens: 3_000,
} as const;

/** armor words its errors "Syntax Error: ..." whatever the limit; clients see the limit itself. */
function limitMessage(error: Error): string {
  return error.message.replace(/^Syntax Error:\s*/, '');
}

/**
 * Validation-time limits report into the validation context, which makes them ordinary validation errors (Yoga
 * answers those with GRAPHQL_VALIDATION_FAILED and 400) instead of exceptions thrown out of `validate`.
 */
const reportValidationError: RejectCallback = (context, error) => {
  context?.reportError(limitError(error));
};

/** The refusals this plugin made, so it can give them HTTP 400 whatever the response's media type. */
const limitErrors = new WeakSet<GraphQLError>();

function limitError(error: Error): GraphQLError {
  const refusal = createGraphQLError(limitMessage(error), {
    extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
  });
  limitErrors.add(refusal);
  return refusal;
}

/**
 * The token limit runs while the document is parsed, where there is no validation context: it throws, carrying
 * the validation code so Yoga does not label it a parse failure (the document is well-formed, just too large).
 */
const throwTokenLimitError: RejectCallback = (_context, error) => {
  throw limitError(error);
};

const reported = { propagateOnRejection: false, onReject: [reportValidationError] };

export function queryLimitsPlugin(options: { hideFieldSuggestions: boolean }): Plugin<Context> {
  const config: ArmorConfig = {
    maxDepth: { n: QUERY_LIMITS.maxDepth, flattenFragments: true, ignoreIntrospection: true, ...reported },
    costLimit: {
      maxCost: QUERY_LIMITS.maxCost,
      flattenFragments: true,
      ignoreIntrospection: true,
      ...reported,
    },
    maxAliases: { n: QUERY_LIMITS.maxAliases, ...reported },
    maxDirectives: { n: QUERY_LIMITS.maxDirectives, ...reported },
    maxTokens: { n: QUERY_LIMITS.maxTokens, propagateOnRejection: false, onReject: [throwTokenLimitError] },
    // "Did you mean ...?" reveals field names: hidden together with introspection (INTROSPECTION=false).
    blockFieldSuggestion: { enabled: options.hideFieldSuggestions },
  };
  return {
    onPluginInit({ addPlugin }) {
      addPlugin(EnvelopArmorPlugin<YogaInitialContext & Context>(config));
    },
    // Yoga answers validation errors with 200 when the client accepts only application/json (as the GraphQL over
    // HTTP spec advises for legacy clients); a refused-for-abuse document gets 400 from every client.
    onResultProcess({ result }) {
      if (Symbol.asyncIterator in result) return;
      for (const single of Array.isArray(result) ? result : [result]) {
        for (const error of single.errors ?? []) {
          if (limitErrors.has(error)) error.extensions.http = { status: 400, spec: false };
        }
      }
    },
  };
}
