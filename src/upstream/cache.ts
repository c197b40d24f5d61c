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

/** What a lookup found, and how to store the answer fetched after a miss. */
export interface CacheLookup {
  /** The cached answer: the SAME object on every hit for as long as the entry lives (callers memoize on it). */
  answer: CachedAnswer | undefined;
  /** Stores the answer fetched after this miss, tagged with the version of the data the lookup saw. */
  store(answer: CachedAnswer): void;
}

/**
 * One kind of state, two implementations: `ResponseCache` (in-process) and `SharedCache`
 * (src/redis/shared-cache.ts: Redis behind an in-process L1, invalidated for every instance).
 */
export interface AnswerCache {
  /** Answers held in memory: bounded by the maximum, for the flood tests. */
  readonly size: number;
  lookup(key: string, scope: ReadScope): CacheLookup | Promise<CacheLookup>;
  /** Resolves once the entries are dropped everywhere they are shared; a write awaits it before answering. */
  invalidate(fingerprint: string, pathPrefixes: readonly string[]): void | Promise<void>;
  close(): void;
}

export const DEFAULT_CACHE_MAX_ENTRIES = 500;

const noStore = (): void => {};

export class ResponseCache implements AnswerCache {
  /** Map order is insertion order: re-inserting on a hit keeps the least recently used first. */
  readonly #entries = new Map<string, Entry>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(
    readonly ttlMs: number,
    readonly maxEntries = DEFAULT_CACHE_MAX_ENTRIES,
  ) {
    // Expired entries are dropped on lookup and by LRU; the timer also frees those never looked up again.
    this.#sweeper = setInterval(() => this.#sweep(), Math.max(ttlMs, 1_000));
    this.#sweeper.unref();
  }

  /** Entries held (for the flood tests). */
  get size(): number {
    return this.#entries.size;
  }

  lookup(key: string, scope: ReadScope): CacheLookup {
    const answer = this.get(key);
    if (answer) return { answer, store: noStore };
    return { answer, store: (fetched) => this.set(key, scope, fetched) };
  }

  get(key: string): CachedAnswer | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= Date.now()) return undefined;
    this.#entries.set(key, entry);
    return entry.answer;
  }

  /** `ttlMs` shortens the entry's life below the cache's (an answer that already aged in Redis). */
  set(key: string, scope: ReadScope, answer: CachedAnswer, ttlMs = this.ttlMs): void {
    this.#entries.delete(key);
    this.#entries.set(key, { ...scope, answer, expiresAt: Date.now() + Math.min(ttlMs, this.ttlMs) });
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

  /** Drops everything (the shared cache does when Redis comes and goes: versions seen before may be stale). */
  clear(): void {
    this.#entries.clear();
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#entries.clear();
  }

  #sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
  }
}
