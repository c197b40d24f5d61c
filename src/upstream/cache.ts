/**
 * The per-credential GET cache: an upstream answer is reused for the same credential for CACHE_TTL_MS, so a
 * dashboard's burst of identical reads costs one request of its budget. The key always starts with the
 * credential's fingerprint, so nothing fetched with one token is served to another. Hand-written because
 * undici's cache interceptor keys by URL (and follows HTTP caching headers EPMware does not send).
 */

export interface CachedAnswer {
  status: number;
  text: string;
}

export interface ReadScope {
  fingerprint: string;
  /** Below /service/api, for invalidation by prefix. */
  path: string;
}

interface Entry extends ReadScope {
  answer: CachedAnswer;
  expiresAt: number;
}

/** One identical read: credential, method, path and the query with its keys sorted. */
export function readKey(
  fingerprint: string,
  method: string,
  path: string,
  query: Record<string, string | undefined> | undefined,
): string {
  const pairs = Object.entries(query ?? {})
    .filter((pair): pair is [string, string] => pair[1] !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([fingerprint, method, path, pairs]);
}

/** Task status and logs change by the second and are polled on purpose: coalesced, never cached. */
export function isCacheablePath(path: string): boolean {
  return !path.startsWith('/task/');
}

/** The reads a write under `/<module>/...` may have changed: that credential's `/<module>/` entries. */
export function modulePrefix(path: string): string {
  const module = path.split('/')[1] ?? '';
  return `/${module}/`;
}

export class ResponseCache {
  /** Map order is insertion order: re-inserting on a hit keeps the least recently used first. */
  readonly #entries = new Map<string, Entry>();

  constructor(
    readonly ttlMs: number,
    readonly maxEntries = 500,
  ) {}

  get(key: string): CachedAnswer | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= Date.now()) return undefined;
    this.#entries.set(key, entry);
    return entry.answer;
  }

  set(key: string, scope: ReadScope, answer: CachedAnswer): void {
    this.#entries.delete(key);
    this.#entries.set(key, { ...scope, answer, expiresAt: Date.now() + this.ttlMs });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.maxEntries) break;
      this.#entries.delete(oldest);
    }
  }

  invalidate(fingerprint: string, pathPrefixes: readonly string[]): void {
    for (const [key, entry] of this.#entries) {
      if (entry.fingerprint === fingerprint && pathPrefixes.some((prefix) => entry.path.startsWith(prefix))) {
        this.#entries.delete(key);
      }
    }
  }
}
