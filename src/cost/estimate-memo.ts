/**
 * Estimates already made, so a document sent again with the same variables (a dashboard's refresh, a report's
 * schedule) is not walked again. An estimate depends on the schema, the document, the operation name and the
 * variables alone, never on the credential or on what EPMware holds, so a remembered one is the same answer.
 *
 * Bounded: at most MAX_ESTIMATES entries (lru-cache: the least recently used evicted first), and variables past
 * MAX_VARIABLES_KEY characters (as JSON), or holding more than JSON's values (an upload), are estimated every time
 * rather than kept. A document is named by an id
 * kept in a WeakMap, so the memo never holds a document Yoga's parse cache has let go. One memo serves one schema
 * (the plugin's).
 */
import type { DocumentNode, GraphQLSchema } from 'graphql';
import { LRUCache } from 'lru-cache';
import { type DemandEstimate, estimateUpstreamCalls } from './estimate.ts';

export const MAX_ESTIMATES = 1_000;
export const MAX_VARIABLES_KEY = 2_048;

/**
 * The variables as JSON, or null when they hold anything but JSON's own values (an upload's file, say): those are
 * estimated every time rather than named by a text that may not tell them apart.
 */
function plainJson(variables: unknown): string | null {
  try {
    return JSON.stringify(variables, (_key, value: unknown) => {
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        const prototype: unknown = Object.getPrototypeOf(value);
        if (prototype !== Object.prototype && prototype !== null) throw new TypeError('not plain JSON');
      }
      return value;
    });
  } catch {
    return null;
  }
}

export class EstimateMemo {
  readonly #documentIds = new WeakMap<DocumentNode, number>();
  #nextDocumentId = 0;
  /** An estimate, or null for a document that names no operation to estimate (boxed: lru-cache keeps no null). */
  readonly #estimates: LRUCache<string, { estimate: DemandEstimate | null }>;

  constructor(readonly maxEntries = MAX_ESTIMATES) {
    this.#estimates = new LRUCache({ max: maxEntries });
  }

  get size(): number {
    return this.#estimates.size;
  }

  estimate(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Record<string, unknown> | null | undefined,
    operationName?: string | null,
  ): DemandEstimate | null {
    const variablesKey = plainJson(variables ?? null);
    if (variablesKey === null || variablesKey.length > MAX_VARIABLES_KEY) {
      return estimateUpstreamCalls(schema, document, variables, operationName);
    }
    const key = `${this.#documentId(document)}\n${operationName ?? ''}\n${variablesKey}`;
    const known = this.#estimates.get(key);
    if (known) return known.estimate;
    const estimate = estimateUpstreamCalls(schema, document, variables, operationName);
    this.#estimates.set(key, { estimate: estimate && Object.freeze(estimate) });
    return estimate;
  }

  #documentId(document: DocumentNode): number {
    let id = this.#documentIds.get(document);
    if (id === undefined) {
      id = this.#nextDocumentId++;
      this.#documentIds.set(document, id);
    }
    return id;
  }
}
