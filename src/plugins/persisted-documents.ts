/**
 * Persisted (trusted) documents by id, on Yoga's own plugin (@graphql-yoga/plugin-persisted-operations):
 * - POST {"documentId", "variables"} and GET /graphql?documentId=<id>&variables=<json> (the GraphQL-over-HTTP
 *   persisted-documents draft), and Apollo's APQ `extensions.persistedQuery.sha256Hash`;
 * - the id is looked up in the manifest loaded at start-up; the manifest's *text* is what Yoga then parses, so
 *   limits, validation, caching and error masking are those of any other request.
 * - No registration: an APQ client that misses gets PersistedQueryNotFound and re-sends the text, which runs (when
 *   arbitrary documents are allowed) without being stored. The document store therefore never grows.
 * - PERSISTED_DOCUMENTS_ONLY: refused at parse time (an envelop hook), so HTTP and WebSocket share one rule: a
 *   document runs when it is one of the manifest's (sent by id, or its text as a subscribe message carries it) or
 *   when it only introspects, so GraphiQL and code generators still load the schema.
 */
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import { type DocumentNode, Kind } from 'graphql';
import { createGraphQLError, type GraphQLParams, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';
import type { ErrorCode } from '../errors.ts';
import type { PersistedDocuments } from '../persisted/manifest.ts';

const PERSISTED_QUERY_NOT_FOUND: ErrorCode = 'PERSISTED_QUERY_NOT_FOUND';
const PERSISTED_QUERY_REQUIRED: ErrorCode = 'PERSISTED_QUERY_REQUIRED';

/** Apollo Client's and urql's persisted-query links recognise a miss by exactly this message. */
const NOT_FOUND_MESSAGE = 'PersistedQueryNotFound';

/** The id a request names: `documentId` in a POST body or a GET query string, else APQ's sha256Hash. */
function documentIdOf(params: GraphQLParams, request: Request): string | null {
  const fromBody = (params as GraphQLParams & { documentId?: unknown }).documentId;
  if (typeof fromBody === 'string' && fromBody !== '') return fromBody;
  if (request.method === 'GET') {
    const fromUrl = new URL(request.url).searchParams.get('documentId');
    if (fromUrl) return fromUrl;
  }
  const apq = params.extensions?.persistedQuery as { version?: unknown; sha256Hash?: unknown } | undefined;
  return apq?.version === 1 && typeof apq.sha256Hash === 'string' ? apq.sha256Hash : null;
}

export function persistedDocumentsPlugins(manifest: PersistedDocuments, only: boolean): Plugin<Context>[] {
  const byId = usePersistedOperations<Context>({
    // Arbitrary documents are refused (in only-persisted mode) by trustedDocumentsOnly below instead, which
    // sees the parsed document and so can let introspection through; this hook only knows the HTTP request.
    allowArbitraryOperations: true,
    extractPersistedOperationId: documentIdOf,
    getPersistedOperation: (id) => manifest.get(id)?.text ?? null,
    customErrors: {
      notFound: {
        message: NOT_FOUND_MESSAGE,
        extensions: { code: PERSISTED_QUERY_NOT_FOUND, http: { status: 404 } },
      },
      keyNotFound: {
        message: 'Send a "query", or a "documentId" from the persisted documents',
        extensions: { code: 'GRAPHQL_PARSE_FAILED', http: { status: 400 } },
      },
    },
  }) as Plugin<Context>;
  return only ? [byId, trustedDocumentsOnly(manifest)] : [byId];
}

function persistedQueryRequired() {
  return createGraphQLError(
    'Only persisted documents may run here: send a "documentId" (or an APQ sha256Hash) from the manifest',
    { extensions: { code: PERSISTED_QUERY_REQUIRED, http: { status: 400 } } },
  );
}

function trustedDocumentsOnly(manifest: PersistedDocuments): Plugin<Context> {
  // Keyed by the parsed document, which Yoga's parse cache hands out again for the same text; weak, so it holds
  // nothing the parse cache has evicted.
  const verdicts = new WeakMap<DocumentNode, boolean>();
  return {
    onParse({ context }) {
      // The /reports route's own queries (a built-in report, a manifest query rewritten to page its connection):
      // set by gateway.ts on yoga.fetch's server context, which no client can reach.
      if ((context as { trustedReport?: unknown }).trustedReport === true) return;
      return ({ result }) => {
        if (!result || result instanceof Error) return;
        const document = result as DocumentNode;
        let trusted = verdicts.get(document);
        if (trusted === undefined) {
          trusted = isIntrospectionOnly(document) || manifest.isTrusted(document);
          verdicts.set(document, trusted);
        }
        if (!trusted) throw persistedQueryRequired();
      };
    },
  };
}

const INTROSPECTION_FIELDS = new Set(['__schema', '__type', '__typename']);

/**
 * Every operation is a query whose top-level selections are introspection fields. Below __schema and __type only
 * introspection types exist, so nothing there reaches EPMware; fragments can only be spread inside them.
 */
export function isIntrospectionOnly(document: DocumentNode): boolean {
  let operations = 0;
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) continue;
    if (definition.kind !== Kind.OPERATION_DEFINITION || definition.operation !== 'query') return false;
    operations++;
    for (const selection of definition.selectionSet.selections) {
      if (selection.kind !== Kind.FIELD || !INTROSPECTION_FIELDS.has(selection.name.value)) return false;
    }
  }
  return operations > 0;
}
