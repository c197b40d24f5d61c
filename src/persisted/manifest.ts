/**
 * The trusted-documents manifest (PERSISTED_DOCUMENTS): `{ "<sha256 hex of the text>": "<document>" }`, the shape
 * GraphQL Codegen's client preset writes as persisted-documents.json (its keys carry a `sha256:` prefix, accepted)
 * and `npm run documents` builds. It is read once
 * at start-up and never grows: clients cannot register documents (no APQ register-on-miss), so the only document
 * store is what the operator shipped. Every entry is checked here (id = sha256 of the text, the text parses, it has
 * an operation), so a bad manifest stops start-up instead of failing a report at 3 a.m.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { DocumentNode, OperationDefinitionNode } from 'graphql';

type GraphQLModule = typeof import('graphql');
let graphqlModule: GraphQLModule | undefined;

/**
 * config.ts imports this module, and main.ts loads config.ts alone first so that a bad variable is reported in a
 * fraction of a second: graphql (the same instance every other module gets) is loaded only once a manifest is
 * configured.
 */
function graphql(): GraphQLModule {
  graphqlModule ??= createRequire(import.meta.url)('graphql') as GraphQLModule;
  return graphqlModule;
}

export class ManifestError extends Error {
  override name = 'ManifestError';
}

export interface PersistedDocument {
  id: string;
  /** Exactly the manifest's text: what Yoga parses, so every limit and cache applies as to any other request. */
  text: string;
  document: DocumentNode;
  operations: readonly OperationDefinitionNode[];
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export class PersistedDocuments {
  readonly #byId: ReadonlyMap<string, PersistedDocument>;
  /** print(parse(text)) of each document: a client that sends a trusted document's text, reformatted or not, sends
   * a trusted document (WebSocket subscribe messages carry text, never an id). */
  readonly #canonical: ReadonlySet<string>;

  constructor(documents: readonly PersistedDocument[] = []) {
    this.#byId = new Map(documents.map((entry) => [entry.id, entry]));
    this.#canonical = new Set(documents.map((entry) => graphql().print(entry.document)));
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Every document, in the manifest's order (for the reports catalog). */
  entries(): IterableIterator<PersistedDocument> {
    return this.#byId.values();
  }

  /** By id as clients send it: hex in any case, with or without the `sha256:` prefix of the GraphQL-over-HTTP draft. */
  get(id: string): PersistedDocument | undefined {
    return this.#byId.get(
      id
        .trim()
        .toLowerCase()
        .replace(/^sha256:/, ''),
    );
  }

  /** Whether a parsed document is one of the manifest's, whatever its whitespace, comments or commas. */
  isTrusted(document: DocumentNode): boolean {
    return this.#canonical.has(graphql().print(document));
  }
}

/** The operation a request runs: the only one, or the one named (as graphql-js picks it). */
export function operationOf(
  entry: PersistedDocument,
  operationName: string | null | undefined,
): OperationDefinitionNode | undefined {
  if (operationName) return entry.operations.find((operation) => operation.name?.value === operationName);
  return entry.operations.length === 1 ? entry.operations[0] : undefined;
}

/** Reads and checks a manifest file; any problem is one line naming the file (and the id, when it is one entry). */
export function loadPersistedDocuments(path: string): PersistedDocuments {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ManifestError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ManifestError(`${path} is not valid JSON`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ManifestError(`${path} must be a JSON object { "<sha256 hex>": "<document>" }`);
  }
  const documents: PersistedDocument[] = [];
  for (const [key, text] of Object.entries(json)) {
    // GraphQL Code Generator's client preset writes `sha256:<hex>` keys; the id is the hex either way.
    const id = key.toLowerCase().replace(/^sha256:/, '');
    if (!SHA256_HEX.test(id)) throw new ManifestError(`${path}: "${key}" is not a sha256 hex id`);
    if (typeof text !== 'string') throw new ManifestError(`${path}: the document of ${key} is not a string`);
    if (sha256Hex(text) !== id) throw new ManifestError(`${path}: ${key} is not the sha256 of its document`);
    documents.push(persistedDocument(id, text, path));
  }
  return new PersistedDocuments(documents);
}

function persistedDocument(id: string, text: string, path: string): PersistedDocument {
  const { GraphQLError, Kind, parse } = graphql();
  let document: DocumentNode;
  try {
    document = parse(text);
  } catch (error) {
    const detail = error instanceof GraphQLError ? error.message.replace(/\s+/g, ' ') : 'does not parse';
    throw new ManifestError(`${path}: the document of ${id} does not parse: ${detail}`);
  }
  const operations = document.definitions.filter(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  );
  if (operations.length === 0) throw new ManifestError(`${path}: the document of ${id} has no operation`);
  return { id, text, document, operations };
}
