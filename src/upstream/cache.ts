/**
 * The per-credential GET cache: an upstream answer is reused for the same credential for CACHE_TTL_MS, so a
 * dashboard's burst of identical reads costs one request of its budget. The key always starts with the
 * credential's fingerprint, so nothing fetched with one token is served to another. Entries live in lru-cache
 * (bounded, least recently used first out, TTL per entry); undici's own cache interceptor does not fit: it keys by
 * URL and follows HTTP caching headers, which EPMware does not send, and could not hand back the same answer object
 * on every hit.
 *
 * Two stages of the pipeline live here: `cached` answers reads from the cache, `invalidatedByWrites` drops a
 * credential's reads of a module after any write to it (once, awaited: with Redis every instance has dropped them
 * before the mutation answers).
 */
import { LRUCache } from 'lru-cache';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { type BufferedAnswer, type CallStage, isRead } from './pipeline.ts';

/** A cached answer: the same object on every hit while the entry lives (callers memoize on it). */
export type CachedAnswer = BufferedAnswer;

export interface ReadScope {
  fingerprint: string;
  /** Below /service/api, for invalidation by prefix. */
  path: string;
}

interface Entry extends ReadScope {
  answer: CachedAnswer;
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
  readonly #entries: LRUCache<string, Entry>;
  readonly #sweeper: NodeJS.Timeout;

  constructor(
    readonly ttlMs: number,
    readonly maxEntries = DEFAULT_CACHE_MAX_ENTRIES,
  ) {
    this.#entries = new LRUCache<string, Entry>({ max: maxEntries, ttl: ttlMs });
    // Expired entries are dropped on lookup and by LRU; the timer also frees those never looked up again (one pass
    // per TTL rather than lru-cache's timer per entry).
    this.#sweeper = setInterval(() => this.#entries.purgeStale(), Math.max(ttlMs, 1_000));
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
    return this.#entries.get(key)?.answer;
  }

  /** `ttlMs` shortens the entry's life below the cache's (an answer that already aged in Redis). */
  set(key: string, scope: ReadScope, answer: CachedAnswer, ttlMs = this.ttlMs): void {
    this.#entries.set(key, { ...scope, answer }, { ttl: Math.min(ttlMs, this.ttlMs) });
  }

  invalidate(fingerprint: string, pathPrefixes: readonly string[]): void {
    const dropped: string[] = [];
    for (const [key, entry] of this.#entries.entries()) {
      if (entry.fingerprint === fingerprint && pathPrefixes.some((prefix) => entry.path.startsWith(prefix))) {
        dropped.push(key);
      }
    }
    for (const key of dropped) this.#entries.delete(key);
  }

  /** Drops everything (the shared cache does when Redis comes and goes: versions seen before may be stale). */
  clear(): void {
    this.#entries.clear();
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#entries.clear();
  }
}

/**
 * Reads answered from the cache. On a miss the call goes on with the key and a `store` for its answer, which the
 * coalescing stage below calls unless a write made the answer stale while it was in flight.
 */
export function cached(cache: AnswerCache, metrics: GatewayMetrics): CallStage {
  return (next) => (call) => {
    if (!isRead(call) || call.streamed || call.ownRequest || !isCacheablePath(call.path)) return next(call);
    const { fingerprint } = call.credential;
    const key = readKey(fingerprint, call.method, call.path, call.query);
    const found = cache.lookup(key, { fingerprint, path: call.path });
    // Awaited only when it is a promise (Redis): the in-process lookup stays synchronous, so no read in flight can
    // finish between a miss here and joining it below (which would send a second, identical request).
    if (!(found instanceof Promise)) return answerOrGoOn(found);
    return found.then(answerOrGoOn);

    function answerOrGoOn(lookup: CacheLookup) {
      if (lookup.answer) {
        metrics.cacheLookups.inc({ endpoint: call.endpoint, result: 'hit' });
        return Promise.resolve(lookup.answer);
      }
      return next({ ...call, readKey: key, store: lookup.store });
    }
  };
}

/**
 * After a write (even a failed one: it may have been applied), that credential's cached and in-flight reads of the
 * same module are dropped: a write under /security/ drops /security/*, a deployment run drops
 * /deployment/get_execution_details.
 */
export function invalidatedByWrites(
  invalidate: (fingerprint: string, prefixes: readonly string[]) => Promise<void>,
): CallStage {
  return (next) => (call) => {
    if (isRead(call)) return next(call);
    const written = next(call);
    const drop = () => invalidate(call.credential.fingerprint, [modulePrefix(call.path)]);
    return written.then(
      async (answer) => {
        await drop();
        return answer;
      },
      async (error: unknown) => {
        await drop();
        throw error;
      },
    );
  };
}
