/**
 * Coalescing: identical GETs in flight for the same credential share one upstream request (and one budget slot).
 * Hand-written rather than undici's `interceptors.deduplicate`: that one does key on every request header, the
 * Authorization header included, so it would be safe across tokens, but it sits below this client, after the
 * budget: each joined request would already have spent a slot. Coalescing above the budget is what saves it; and a
 * write must be able to mark a read in flight stale, so that its answer is not cached.
 */
import type { GatewayMetrics } from '../observability/metrics.ts';
import { type CachedAnswer, type ReadScope, readKey } from './cache.ts';
import { type CallStage, isBuffered, isRead } from './pipeline.ts';

interface Flight extends ReadScope {
  result: Promise<CachedAnswer>;
  /** A write changed what this read describes while it was in flight: do not cache its answer. */
  stale: boolean;
}

/** Distinct reads in flight that may be joined; far above what the budget lets through at once. */
export const DEFAULT_MAX_IN_FLIGHT_READS = 1_000;

/**
 * Bounded: at most `maxEntries` distinct reads are joinable at once. A read beyond that simply does not coalesce
 * (it runs on its own, unrecorded), so a flood of distinct keys costs no memory here; an entry leaves the map when
 * its read settles or a write makes it stale.
 */
export class InFlightReads {
  readonly #flights = new Map<string, Flight>();
  readonly #maxEntries: number;

  constructor(maxEntries: number = DEFAULT_MAX_IN_FLIGHT_READS) {
    this.#maxEntries = maxEntries;
  }

  /** How many reads are joinable now (for tests and metrics). */
  get size(): number {
    return this.#flights.size;
  }

  /** Joins the identical read in flight, or starts `fetch` as a new one. */
  run(
    key: string,
    scope: ReadScope,
    fetch: (isStale: () => boolean) => Promise<CachedAnswer>,
  ): { result: Promise<CachedAnswer>; joined: boolean } {
    const existing = this.#flights.get(key);
    if (existing) return { result: existing.result, joined: true };
    const flight: Flight = { ...scope, stale: false, result: Promise.resolve({ status: 0, text: '' }) };
    const tracked = this.#flights.size < this.#maxEntries;
    flight.result = fetch(() => flight.stale || !tracked).finally(() => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    });
    // (An untracked read is never cached: a write cannot mark it stale.) Callers may all have given up (each races
    // its own abort signal); the failure is theirs, not the process's.
    flight.result.catch(() => {});
    if (tracked) this.#flights.set(key, flight);
    return { result: flight.result, joined: false };
  }

  /** Reads already in flight may describe the state before a write: later callers start afresh. */
  invalidate(fingerprint: string, pathPrefixes: readonly string[]): void {
    for (const [key, flight] of this.#flights) {
      if (
        flight.fingerprint === fingerprint &&
        pathPrefixes.some((prefix) => flight.path.startsWith(prefix))
      ) {
        flight.stale = true;
        this.#flights.delete(key);
      }
    }
  }
}

/** A shared promise as seen by one caller, who may give up on it. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The coalescing stage: a read joins the identical one in flight or starts it. The shared request runs without any
 * one caller's abort signal (others may be waiting on it), bounded by its own deadline; each caller races its own
 * signal. The starter stores the answer (the cache stage's `store`) unless a write made it stale meanwhile.
 */
export function coalesced(reads: InFlightReads, metrics: GatewayMetrics): CallStage {
  return (next) => (call) => {
    if (!isRead(call) || call.streamed || call.ownRequest) return next(call);
    const { fingerprint } = call.credential;
    const key = call.readKey ?? readKey(fingerprint, call.method, call.path, call.query);
    const { store } = call;
    const flight = reads.run(key, { fingerprint, path: call.path }, async (isStale) => {
      const answer = await next({ ...call, signal: undefined, store: undefined });
      if (!isBuffered(answer)) throw new Error('a coalesced read must be buffered');
      if (store && !isStale()) store(answer);
      return answer;
    });
    metrics.cacheLookups.inc({ endpoint: call.endpoint, result: flight.joined ? 'coalesced' : 'miss' });
    return call.signal ? raceAbort(flight.result, call.signal) : flight.result;
  };
}
