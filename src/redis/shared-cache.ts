/**
 * The per-credential GET cache shared by every instance on the same Redis, with invalidation that reaches them all
 * before a write answers.
 *
 * - L2, Redis: an answer is stored as text with a PX TTL of CACHE_TTL_MS under
 *   `cache:<fingerprint>:<module>:<version>:<sha256 of the read>`; every key starts with the credential's
 *   fingerprint, so one token's answers are never found under another's.
 * - Version: one key per credential and module (`cache-version:<fingerprint>:<module>`). A write sets it to a new
 *   random value and awaits that; every read first asks for the current version, so after the write no instance can
 *   reach an entry stored under the old one (and a read that was in flight during the write stores its answer under
 *   the old, now unreachable, version). One GET per lookup is the price of "the next read shows the write"
 *   everywhere, instead of a pub/sub message that could arrive after the client's next request.
 * - L1, in-process: the answers this instance already holds, keyed by version and read, so a hit returns the SAME
 *   object while it lives (callers memoize parsed JSON on it) without moving the text again.
 *
 * While Redis is unreachable the L1 alone serves, as the in-process cache does, and writes drop only this
 * instance's entries (the others may serve their own for up to CACHE_TTL_MS). L1 is emptied whenever Redis comes or
 * goes, because the versions it was checked against may have moved meanwhile.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  type AnswerCache,
  type CachedAnswer,
  type CacheLookup,
  modulePrefix,
  type ReadScope,
  ResponseCache,
} from '../upstream/cache.ts';
import type { RedisConnection } from './connection.ts';
import type { SharedStateMetrics } from './state-metrics.ts';

export interface SharedCacheOptions {
  redis: RedisConnection;
  /** CACHE_TTL_MS. */
  ttlMs: number;
  /** Most L1 entries (in-process); Redis entries are bounded by their TTL. */
  maxEntries?: number;
  /**
   * How long a version outlives the write that set it: longer than any read that could have started before the
   * write (UPSTREAM_TIMEOUT_MS) plus an entry's life, so a version that expired cannot make a stale entry reachable.
   */
  versionTtlMs: number;
  stateMetrics: SharedStateMetrics;
}

/** The version of a credential's module before any write was seen (or after its version key expired). */
const INITIAL_VERSION = '0';
/** L1's version tag for entries stored while Redis is unreachable. */
const LOCAL_VERSION = 'local';

const noStore = (): void => {};

export class SharedCache implements AnswerCache {
  readonly #redis: RedisConnection;
  readonly #ttlMs: number;
  readonly #versionTtlMs: number;
  readonly #stateMetrics: SharedStateMetrics;
  readonly #l1: ResponseCache;
  readonly #stopWatching: () => void;

  constructor(options: SharedCacheOptions) {
    this.#redis = options.redis;
    this.#ttlMs = options.ttlMs;
    this.#versionTtlMs = options.versionTtlMs;
    this.#stateMetrics = options.stateMetrics;
    this.#l1 = new ResponseCache(options.ttlMs, options.maxEntries);
    this.#stopWatching = this.#redis.onStateChange(() => this.#l1.clear());
  }

  /** L1 entries held (for the flood tests). */
  get size(): number {
    return this.#l1.size;
  }

  async lookup(key: string, scope: ReadScope): Promise<CacheLookup> {
    if (!this.#redis.isUp()) return this.#lookupLocally(key, scope);
    const module = moduleName(scope.path);
    const commands = this.#redis.commands;
    let version: string;
    try {
      version = (await commands.get(this.#versionKey(scope.fingerprint, module))) ?? INITIAL_VERSION;
    } catch {
      return this.#lookupLocally(key, scope);
    }
    const l1Key = `${version} ${key}`;
    const held = this.#l1.get(l1Key);
    if (held) return { answer: held, store: noStore };
    const entryKey = this.#redis.key('cache', scope.fingerprint, module, version, digest(key));
    try {
      const [text, ttl] = await Promise.all([commands.get(entryKey), commands.pttl(entryKey)]);
      if (text !== null && ttl > 0) {
        const answer = decode(text);
        if (answer) {
          this.#l1.set(l1Key, scope, answer, ttl);
          return { answer, store: noStore };
        }
      }
    } catch {
      this.#stateMetrics.fellBack('cache');
      // A miss: the read goes upstream, and its answer is kept in L1 under the version seen above.
    }
    return {
      answer: undefined,
      store: (answer) => {
        this.#l1.set(l1Key, scope, answer);
        // Redis went down while the read was out: keep the answer here only (L1 is cleared on the change anyway).
        if (!this.#redis.isUp()) return;
        commands
          .set(entryKey, encode(answer), 'PX', this.#ttlMs)
          .catch(() => this.#stateMetrics.fellBack('cache'));
      },
    };
  }

  /** Drops the credential's entries under these modules here, and moves their versions in Redis (awaited). */
  async invalidate(fingerprint: string, pathPrefixes: readonly string[]): Promise<void> {
    this.#l1.invalidate(fingerprint, pathPrefixes);
    if (!this.#redis.isUp()) {
      this.#stateMetrics.fellBack('cache');
      return;
    }
    const modules = new Set(pathPrefixes.map(moduleName));
    const pipeline = this.#redis.commands.pipeline();
    for (const module of modules) {
      pipeline.set(this.#versionKey(fingerprint, module), randomUUID(), 'PX', this.#versionTtlMs);
    }
    try {
      const results = await pipeline.exec();
      if (results?.some(([error]) => error)) throw new Error('version update failed');
    } catch {
      // The other instances keep their entries until CACHE_TTL_MS; this one already dropped its own.
      this.#stateMetrics.fellBack('cache');
    }
  }

  close(): void {
    this.#stopWatching();
    this.#l1.close();
  }

  #lookupLocally(key: string, scope: ReadScope): CacheLookup {
    this.#stateMetrics.fellBack('cache');
    const l1Key = `${LOCAL_VERSION} ${key}`;
    const answer = this.#l1.get(l1Key);
    return { answer, store: answer ? noStore : (fetched) => this.#l1.set(l1Key, scope, fetched) };
  }

  #versionKey(fingerprint: string, module: string): string {
    return this.#redis.key('cache-version', fingerprint, module);
  }
}

/** `/security/users` -> `security`: invalidation is per module, as in the in-process cache. */
function moduleName(path: string): string {
  return modulePrefix(path).replaceAll('/', '');
}

/** Read keys hold the query string: hashed so Redis keys stay short and free of user input. */
function digest(key: string): string {
  return createHash('sha256').update(key).digest('base64url');
}

function encode(answer: CachedAnswer): string {
  return `${answer.status}\n${answer.text}`;
}

function decode(stored: string): CachedAnswer | undefined {
  const newline = stored.indexOf('\n');
  const status = Number(stored.slice(0, newline));
  if (newline < 0 || !Number.isInteger(status)) return undefined;
  return { status, text: stored.slice(newline + 1) };
}
