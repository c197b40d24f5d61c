/**
 * The one upstream client: every call to EPMware goes through here, as a pipeline of stages, one concern each, in
 * the order listed in the constructor (pipeline.ts says what a stage is). For a GET: count -> cache -> coalesce ->
 * trace -> [deadline] -> retry -> (breaker open? -> fair share -> budget -> breaker -> request)*.
 */
import { Pool } from 'undici';
import { UpstreamError } from '../errors.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import {
  type BreakerOptions,
  CircuitBreakers,
  judgedByBreaker,
  refusedWhileOpen,
  type Service,
} from './breaker.ts';
import { type Budget, RequestBudget } from './budget.ts';
import { budgeted, fairShare } from './budgeted.ts';
import { type AnswerCache, cached, invalidatedByWrites, ResponseCache } from './cache.ts';
import { coalesced, InFlightReads } from './coalescing.ts';
import { countedCalls } from './counted.ts';
import type { Credential } from './credential.ts';
import { API_PREFIX, dispatchTo } from './dispatch.ts';
import { exchange } from './exchange.ts';
import { parsedAnswer } from './parsed-answers.ts';
import {
  type AttemptStage,
  type BufferedAnswer,
  type CallHandler,
  type CallStage,
  composePipeline,
  isBuffered,
  type StreamedAnswer,
  type UpstreamCall,
} from './pipeline.ts';
import { retried } from './retry.ts';
import { traced } from './traced.ts';

export type { Service } from './breaker.ts';
export type { EndpointClass, HttpMethod, Priority, UpstreamCall } from './pipeline.ts';
export { retryAfterMs } from './retry.ts';

export type UpstreamStream = StreamedAnswer;

/** The knobs beyond the configuration: tests shorten windows and cool-downs, the benchmark's baseline turns
 * the traffic shaping off. */
export interface UpstreamTuning {
  /** Connections to EPMware at most; requests beyond wait in undici's queue. Default 16. */
  connections?: number;
  /** The budget's window, 60 s by default (EPMware counts per minute); tests shorten it. */
  budgetWindowMs?: number;
  /** With Redis, when this instance's reserve of the budget opens: one window after start by default
   * (src/redis/budget-split.ts); tests of the steady state open it at once. */
  budgetReserveOpensAfterMs?: number;
  /** Most GET answers kept; the least recently used go first. Default 500. */
  cacheMaxEntries?: number;
  /** Most distinct reads in flight that later identical reads may join; beyond it reads do not coalesce. */
  maxInFlightReads?: number;
  breaker?: BreakerOptions;
  /** false switches off the budget, coalescing and the cache (the benchmark's baseline only); deadlines,
   * retries and the breaker stay. Default true. */
  resilience?: boolean;
}

export interface UpstreamClientOptions extends UpstreamTuning {
  baseUrl: URL;
  /** UPSTREAM_TIMEOUT_MS: bounds a whole call, budget wait and retries included. */
  timeoutMs: number;
  metrics: GatewayMetrics;
  /** UPSTREAM_RATE_LIMIT_PER_MIN; default 100, EPMware's documented budget. */
  rateLimitPerMin?: number;
  /** The share of the service token's budget one client without a token may spend (0..1); default 0.25. */
  serviceTokenClientShare?: number;
  /** CACHE_TTL_MS; 0 (the default here) turns the cache off. */
  cacheTtlMs?: number;
  /**
   * The upload lane's connections (MAX_CONCURRENT_UPLOADS; default 8): uploads (`endpointClass: 'upload'`) go
   * through a pool of their own, so however slowly their clients send, they never take a connection that reads
   * and writes wait for.
   */
  uploadConnections?: number;
  /** The budget to spend (gateway.ts passes the Redis-shared one when REDIS_URL is set); default in-process. */
  budget?: Budget;
  /** The GET cache (likewise); default in-process, and none when cacheTtlMs is 0. */
  cache?: AnswerCache;
}

/** Why a quarter: three anonymous requests naming 25 deployments each spent a whole 100/min budget (issue #19). */
export const DEFAULT_CLIENT_SHARE = 0.25;

export class UpstreamClient {
  readonly #pool: Pool;
  readonly #uploadPool: Pool;
  readonly #breakers: CircuitBreakers;
  readonly #budget: Budget | null;
  readonly #shares: RequestBudget | null;
  readonly #reads: InFlightReads | null;
  readonly #cache: AnswerCache | null;
  readonly #call: CallHandler;

  constructor(options: UpstreamClientOptions) {
    const { metrics, timeoutMs } = options;
    const origin = options.baseUrl.origin;
    const basePath = options.baseUrl.pathname.replace(/\/+$/, '');
    // Header and body timeouts far below undici's 300 s defaults: the deadline aborts a JSON call sooner anyway,
    // and a download's body (no deadline once headers are in) fails when no byte moves for UPSTREAM_TIMEOUT_MS
    // (undici's bodyTimeout is the time between chunks, not the whole transfer).
    const poolOptions = {
      headersTimeout: Math.min(timeoutMs, 30_000),
      bodyTimeout: timeoutMs,
      connect: { timeout: Math.min(timeoutMs, 10_000) },
      keepAliveTimeout: 10_000,
    };
    this.#pool = new Pool(origin, { connections: options.connections ?? 16, ...poolOptions });
    this.#uploadPool = new Pool(origin, { connections: options.uploadConnections ?? 8, ...poolOptions });
    this.#breakers = new CircuitBreakers(options.breaker ?? {}, metrics);
    const shaping = options.resilience ?? true;
    const perMinute = options.rateLimitPerMin ?? 100;
    const windowMs = options.budgetWindowMs;
    this.#budget = shaping ? (options.budget ?? new RequestBudget({ perMinute, windowMs, metrics })) : null;
    const share = options.serviceTokenClientShare ?? DEFAULT_CLIENT_SHARE;
    const sharePerMinute = Math.max(1, Math.floor(perMinute * share));
    this.#shares = shaping ? new RequestBudget({ perMinute: sharePerMinute, windowMs, metrics }) : null;
    this.#reads = shaping ? new InFlightReads(options.maxInFlightReads) : null;
    const ttl = options.cacheTtlMs ?? 0;
    // The cache needs the coalescing stage: it decides whether a fetched answer may be stored.
    this.#cache =
      this.#reads && ttl > 0 ? (options.cache ?? new ResponseCache(ttl, options.cacheMaxEntries)) : null;

    // The pipeline, outermost first. Above the exchange, a stage sees a whole call and its answer; below, one
    // attempt and EPMware's raw response.
    const callStages: Array<CallStage | null> = [
      countedCalls,
      invalidatedByWrites((fingerprint, prefixes) => this.#invalidate(fingerprint, prefixes)),
      this.#cache && cached(this.#cache, metrics),
      this.#reads && coalesced(this.#reads, metrics),
      traced,
    ];
    const attemptStages: Array<AttemptStage | null> = [
      retried(metrics),
      refusedWhileOpen(this.#breakers),
      this.#shares && fairShare(this.#shares, sharePerMinute),
      this.#budget && budgeted(this.#budget),
      judgedByBreaker(this.#breakers, timeoutMs / 2, `${basePath}${API_PREFIX}`),
    ];
    this.#call = composePipeline(
      callStages.filter((stage) => stage !== null),
      exchange(timeoutMs, origin),
      attemptStages.filter((stage) => stage !== null),
      dispatchTo({
        origin,
        basePath,
        pool: this.#pool,
        uploadPool: this.#uploadPool,
        metrics,
      }),
    );
  }

  /** A JSON answer; non-2xx answers throw an UpstreamError carrying EPMware's message. */
  async json<T>(call: UpstreamCall): Promise<T> {
    const answer = await this.#buffered(call);
    try {
      return parsedAnswer(answer) as T;
    } catch (error) {
      throw new UpstreamError('UPSTREAM_ERROR', `EPMware sent a malformed answer for ${call.endpoint}`, {
        endpoint: call.endpoint,
        upstreamStatus: answer.status,
        cause: error,
      });
    }
  }

  /** A text answer (task logs). */
  async text(call: UpstreamCall): Promise<string> {
    return (await this.#buffered(call)).text;
  }

  /** A streamed 2xx answer (file downloads): never cached or coalesced; the caller must consume or destroy it. */
  async stream(call: UpstreamCall): Promise<UpstreamStream> {
    const answer = await this.#call({ ...call, streamed: true });
    if (isBuffered(answer)) throw new Error('a streamed call was answered buffered');
    return answer;
  }

  /**
   * Drops what is cached (or in flight) for this credential under these path prefixes (e.g. `/security/`). Writes
   * through this client do it themselves for their own module.
   */
  invalidate(credential: Credential, pathPrefixes: readonly string[]): Promise<void> {
    return this.#invalidate(credential.fingerprint, pathPrefixes);
  }

  /** What the budget, the client shares and the GET cache hold in memory (for the flood tests and benchmarks). */
  stateSizes(): { budgetWindows: number; cacheEntries: number; clientShares: number } {
    return {
      budgetWindows: this.#budget?.size ?? 0,
      cacheEntries: this.#cache?.size ?? 0,
      clientShares: this.#shares?.size ?? 0,
    };
  }

  /** Services whose circuit is open or half-open: EPMware showed they are down and calls to them fail fast. */
  openCircuits(): Service[] {
    return this.#breakers.openServices();
  }

  async close(): Promise<void> {
    this.#budget?.close();
    this.#shares?.close();
    this.#cache?.close();
    await Promise.all([this.#pool.close(), this.#uploadPool.close()]);
  }

  async #buffered(call: UpstreamCall): Promise<BufferedAnswer> {
    const answer = await this.#call(call);
    if (!isBuffered(answer)) throw new Error('a buffered call was answered streamed');
    return answer;
  }

  async #invalidate(fingerprint: string, pathPrefixes: readonly string[]): Promise<void> {
    this.#reads?.invalidate(fingerprint, pathPrefixes);
    // With Redis this also reaches every other instance; it never rejects (a Redis failure is counted, not thrown).
    await this.#cache?.invalidate(fingerprint, pathPrefixes);
  }
}
