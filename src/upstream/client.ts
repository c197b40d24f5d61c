/**
 * The one upstream client: every call to EPMware goes through here, so queries, mutations and task polls alike get
 * the cache and coalescing (GETs), the per-credential budget, the circuit breaker, safe retries (GETs only) and one
 * deadline per call. Order for a GET: cache -> coalescing -> [breaker -> budget -> attempt -> retry?]*.
 */
import { pipeline, type Readable, Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Dispatcher, Pool, request } from 'undici';
import { type GatewayError, UpstreamError } from '../errors.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { traceUpstreamCall, upstreamAttemptStarted, upstreamRequestSent } from '../observability/tracing.ts';
import {
  type Admission,
  type BreakerOptions,
  CircuitBreakers,
  type Outcome,
  type Service,
  serviceOf,
} from './breaker.ts';
import { type Budget, type EndpointClass, type Priority, RequestBudget } from './budget.ts';
import {
  type AnswerCache,
  type CachedAnswer,
  isCacheablePath,
  modulePrefix,
  ResponseCache,
  readKey,
} from './cache.ts';
import { InFlightReads, raceAbort } from './coalescing.ts';
import type { Credential } from './credential.ts';
import { Deadline } from './deadline.ts';
import { answerOutcome, errorFromResponse, transportError, transportOutcome } from './failures.ts';
import { parsedAnswer } from './parsed-answers.ts';
import { type AttemptFailure, retryDelayMs } from './retry.ts';

export type { Service } from './breaker.ts';
export type { EndpointClass, Priority } from './budget.ts';
export { retryAfterMs } from './retry.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH';

export interface UpstreamCall {
  method: HttpMethod;
  /** Below `/service/api`, e.g. `/security/users`. */
  path: string;
  /** A stable label for metrics and errors, e.g. `task/get_status` (never contains ids or tokens). */
  endpoint: string;
  credential: Credential;
  query?: Record<string, string | undefined>;
  /** A JSON body. */
  json?: unknown;
  /** A streamed body (uploads), with its content type. */
  body?: { stream: Readable; contentType: string };
  endpointClass?: EndpointClass;
  priority?: Priority;
  signal?: AbortSignal;
}

export interface UpstreamStream {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/** The knobs beyond the configuration: tests shorten windows and cool-downs, the benchmark's baseline turns
 * the traffic shaping off. */
export interface UpstreamTuning {
  /** Connections to EPMware at most; requests beyond wait in undici's queue. Default 16. */
  connections?: number;
  /** The budget's window, 60 s by default (EPMware counts per minute); tests shorten it. */
  budgetWindowMs?: number;
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

/** One call's attempts, as the breaker sees them: only the first attempt with a verdict counts. */
interface CallVerdict {
  recorded: boolean;
}

type Attempt =
  | { ok: true; response: Dispatcher.ResponseData }
  | { ok: false; failure: AttemptFailure; error: GatewayError };

const API_PREFIX = '/service/api';

export class UpstreamClient {
  readonly #pool: Pool;
  readonly #uploadPool: Pool;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #timeoutMs: number;
  readonly #metrics: GatewayMetrics;
  readonly #breakers: CircuitBreakers;
  readonly #budget: Budget | null;
  readonly #reads: InFlightReads | null;
  readonly #cache: AnswerCache | null;

  constructor(options: UpstreamClientOptions) {
    this.#metrics = options.metrics;
    this.#origin = options.baseUrl.origin;
    this.#basePath = options.baseUrl.pathname.replace(/\/+$/, '');
    this.#timeoutMs = options.timeoutMs;
    // Header and body timeouts far below undici's 300 s defaults: the deadline aborts a JSON call sooner anyway,
    // and a download's body (no deadline once headers are in) fails when no byte moves for UPSTREAM_TIMEOUT_MS
    // (undici's bodyTimeout is the time between chunks, not the whole transfer).
    const poolOptions = {
      headersTimeout: Math.min(options.timeoutMs, 30_000),
      bodyTimeout: options.timeoutMs,
      connect: { timeout: Math.min(options.timeoutMs, 10_000) },
      keepAliveTimeout: 10_000,
    };
    this.#pool = new Pool(this.#origin, { connections: options.connections ?? 16, ...poolOptions });
    this.#uploadPool = new Pool(this.#origin, {
      connections: options.uploadConnections ?? 8,
      ...poolOptions,
    });
    this.#breakers = new CircuitBreakers(options.breaker ?? {}, options.metrics);
    const shaping = options.resilience ?? true;
    this.#budget = shaping
      ? (options.budget ??
        new RequestBudget({
          perMinute: options.rateLimitPerMin ?? 100,
          windowMs: options.budgetWindowMs,
          metrics: options.metrics,
        }))
      : null;
    this.#reads = shaping ? new InFlightReads(options.maxInFlightReads) : null;
    const ttl = options.cacheTtlMs ?? 0;
    this.#cache =
      shaping && ttl > 0 ? (options.cache ?? new ResponseCache(ttl, options.cacheMaxEntries)) : null;
  }

  /** A JSON answer; non-2xx answers throw an UpstreamError carrying EPMware's message. */
  async json<T>(call: UpstreamCall): Promise<T> {
    const answer = await this.#read(call);
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
    return (await this.#read(call)).text;
  }

  /** A streamed 2xx answer (file downloads): never cached or coalesced; the caller must consume or destroy it. */
  async stream(call: UpstreamCall): Promise<UpstreamStream> {
    const deadline = new Deadline(this.#timeoutMs, call.signal);
    try {
      const response = await this.#exchange(call, deadline);
      return { statusCode: response.statusCode, headers: response.headers, body: response.body };
    } finally {
      deadline.clear();
    }
  }

  /**
   * Drops what is cached (or in flight) for this credential under these path prefixes (e.g. `/security/`), after
   * a write that changed what they describe. Writes through this client do it themselves for their own module.
   */
  async invalidate(credential: Credential, pathPrefixes: readonly string[]): Promise<void> {
    this.#reads?.invalidate(credential.fingerprint, pathPrefixes);
    // With Redis this also reaches every other instance; it never rejects (a Redis failure is counted, not thrown).
    await this.#cache?.invalidate(credential.fingerprint, pathPrefixes);
  }

  /** What the budget and the GET cache hold in memory (for the flood tests and benchmarks). */
  stateSizes(): { budgetWindows: number; cacheEntries: number } {
    return { budgetWindows: this.#budget?.size ?? 0, cacheEntries: this.#cache?.size ?? 0 };
  }

  /** Services whose circuit is open or half-open: EPMware showed they are down and calls to them fail fast. */
  openCircuits(): Service[] {
    return this.#breakers.openServices();
  }

  /** Any circuit open or half-open (see openCircuits for which). */
  isCircuitOpen(): boolean {
    return this.#breakers.openServices().length > 0;
  }

  async close(): Promise<void> {
    this.#budget?.close();
    this.#cache?.close();
    await Promise.all([this.#pool.close(), this.#uploadPool.close()]);
  }

  /** A buffered answer: from the cache, joined to an identical read in flight, or fetched. */
  async #read(call: UpstreamCall): Promise<CachedAnswer> {
    if (call.method !== 'GET') {
      try {
        return await this.#fetch(call, call.signal);
      } finally {
        // Even a failed write may have been applied: drop that credential's reads of the same module
        // (a write under /security/ drops /security/*, a deployment run drops /deployment/get_execution_details).
        // Awaited: with Redis, every instance must have dropped them before the mutation answers.
        await this.invalidate(call.credential, [modulePrefix(call.path)]);
      }
    }
    // A caller that may abort (a task poll whose last watcher left) runs its own request, so aborting it withdraws
    // its budget claim and its request; a shared flight could not be withdrawn for one caller.
    if (!this.#reads || call.signal) return this.#fetch(call, call.signal);
    const key = readKey(call.credential.fingerprint, call.method, call.path, call.query);
    const scope = { fingerprint: call.credential.fingerprint, path: call.path };
    const cache = isCacheablePath(call.path) ? this.#cache : null;
    // Awaited only when it is a promise (Redis): the in-process lookup stays synchronous, so no read in flight can
    // finish between a miss here and joining it below (which would send a second, identical request).
    const found = cache?.lookup(key, scope);
    const lookup = found instanceof Promise ? await found : found;
    if (lookup?.answer) {
      this.#metrics.cacheLookups.inc({ endpoint: call.endpoint, result: 'hit' });
      return lookup.answer;
    }
    // The shared request runs without any one caller's abort signal (others may be waiting on it), bounded by
    // its own deadline; each caller races its own signal below.
    const flight = this.#reads.run(key, scope, async (isStale) => {
      const answer = await this.#fetch(call, undefined);
      if (lookup && !isStale()) lookup.store(answer);
      return answer;
    });
    this.#metrics.cacheLookups.inc({ endpoint: call.endpoint, result: flight.joined ? 'coalesced' : 'miss' });
    return call.signal ? raceAbort(flight.result, call.signal) : flight.result;
  }

  async #fetch(call: UpstreamCall, callerSignal: AbortSignal | undefined): Promise<CachedAnswer> {
    const deadline = new Deadline(this.#timeoutMs, callerSignal);
    try {
      const response = await this.#exchange(call, deadline);
      try {
        return { status: response.statusCode, text: await response.body.text() };
      } catch (error) {
        throw transportError(error, call, this.#origin);
      }
    } finally {
      deadline.clear();
    }
  }

  /** One call, in a tracing span when tracing is on (observability/tracing.ts; a plain call otherwise). */
  #exchange(call: UpstreamCall, deadline: Deadline): Promise<Dispatcher.ResponseData> {
    return traceUpstreamCall(call, () => this.#attempts(call, deadline));
  }

  /** Attempts until a 2xx answer, a failure that is not retried, or the deadline. */
  async #attempts(call: UpstreamCall, deadline: Deadline): Promise<Dispatcher.ResponseData> {
    const service = serviceOf(call.path);
    const verdict: CallVerdict = { recorded: false };
    for (let retries = 0; ; retries++) {
      upstreamAttemptStarted(retries);
      const attempt = await this.#attempt(call, deadline, service, verdict);
      if (attempt.ok) return attempt.response;
      const delay = retryDelayMs(call.method, retries, attempt.failure, deadline.remainingMs());
      if (delay === null) throw attempt.error;
      this.#metrics.upstreamRetries.inc({ endpoint: call.endpoint });
      try {
        await sleep(delay, undefined, { signal: deadline.signal });
      } catch (error) {
        throw transportError(deadline.signal.reason ?? error, call, this.#origin);
      }
    }
  }

  /** One upstream request: past its service's breaker, with a budget slot, its outcome told to the breaker. */
  async #attempt(
    call: UpstreamCall,
    deadline: Deadline,
    service: Service,
    verdict: CallVerdict,
  ): Promise<Attempt> {
    if (this.#breakers.refusesNow(service)) throw this.#circuitOpenError(call, service);
    const permit = await this.#budget?.acquire({
      credentialKey: call.credential.fingerprint,
      endpointClass: call.endpointClass ?? 'standard',
      priority: call.priority ?? 'interactive',
      deadline: deadline.at,
      endpoint: call.endpoint,
      signal: deadline.callerSignal,
    });
    // Checked again: the circuit may have opened while this request waited for its slot.
    const admission = this.#breakers.admit(service);
    if (!admission) {
      permit?.cancel();
      throw this.#circuitOpenError(call, service);
    }
    const sentAt = Date.now();
    const body = { pending: call.body !== undefined };
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#send(call, deadline, body);
    } catch (error) {
      permit?.settle();
      const outcome = deadline.callerAborted
        ? 'no-verdict'
        : transportOutcome(error, {
            waitedMs: Date.now() - Math.max(sentAt, deadline.progressAt),
            evidenceMs: this.#timeoutMs / 2,
            bodyPending: body.pending,
          });
      this.#report(admission, outcome, verdict);
      const mapped = transportError(error, call, this.#origin);
      const code = (error as { code?: string }).code;
      return {
        ok: false,
        failure: { kind: 'transport', code, timedOut: mapped.code === 'UPSTREAM_TIMEOUT' },
        error: mapped,
      };
    }
    permit?.settle();
    this.#report(admission, answerOutcome(response.statusCode), verdict);
    if (response.statusCode >= 200 && response.statusCode < 300) return { ok: true, response };
    const error = await errorFromResponse(response, call);
    if (response.statusCode === 429 && error.retryAfterMs !== undefined) {
      this.#budget?.pause(
        call.credential.fingerprint,
        call.endpointClass ?? 'standard',
        Date.now() + error.retryAfterMs,
      );
    }
    return {
      ok: false,
      failure: { kind: 'answer', status: response.statusCode, retryAfterMs: error.retryAfterMs },
      error,
    };
  }

  #report(admission: Admission, outcome: Outcome, verdict: CallVerdict): void {
    this.#breakers.report(admission, outcome, !verdict.recorded);
    if (outcome !== 'no-verdict') verdict.recorded = true;
  }

  async #send(
    call: UpstreamCall,
    deadline: Deadline,
    body: { pending: boolean },
  ): Promise<Dispatcher.ResponseData> {
    upstreamRequestSent();
    const headers: Record<string, string> = {
      authorization: call.credential.authorizationHeader(),
      accept: 'application/json',
    };
    let payload: string | Readable | undefined;
    if (call.json !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(call.json);
    } else if (call.body) {
      headers['content-type'] = call.body.contentType;
      payload = withProgress(call.body.stream, deadline, () => {
        body.pending = false;
      });
    }
    const labels = { endpoint: call.endpoint, method: call.method };
    const stopTimer = this.#metrics.upstreamDuration.startTimer(labels);
    try {
      // Redirects are not followed (undici's request does not, and no redirect interceptor is composed): the
      // token goes to EPMWARE_URL's origin and nowhere else; a 3xx surfaces as UPSTREAM_ERROR.
      const response = await request(`${this.#origin}${this.#basePath}${API_PREFIX}${call.path}`, {
        dispatcher: call.endpointClass === 'upload' ? this.#uploadPool : this.#pool,
        method: call.method,
        query: definedOnly(call.query),
        headers,
        body: payload,
        // A streamed body is bounded by its progress (the deadline restarts per chunk), not by undici's headers
        // timeout, which would run while a slow but steady upload is still being sent.
        ...(call.body ? { headersTimeout: 0 } : {}),
        signal: deadline.signal,
      });
      this.#metrics.upstreamRequests.inc({ ...labels, status: String(response.statusCode) });
      if (response.statusCode === 429) this.#metrics.upstreamRateLimited.inc({ endpoint: call.endpoint });
      return response;
    } catch (error) {
      this.#metrics.upstreamRequests.inc({ ...labels, status: '0' });
      throw error;
    } finally {
      stopTimer();
    }
  }

  #circuitOpenError(call: UpstreamCall, service: Service): UpstreamError {
    return new UpstreamError(
      'UPSTREAM_UNAVAILABLE',
      `EPMware's ${service} service is unavailable (it failed repeatedly); calls to it are paused ` +
        `(next try in ${this.#breakers.secondsUntilProbe(service)} s)`,
      { endpoint: call.endpoint },
    );
  }
}

/** undici sends `?a=undefined` for an undefined value: leave those out. */
function definedOnly(
  query: Record<string, string | undefined> | undefined,
): Record<string, string> | undefined {
  if (!query) return undefined;
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) if (value !== undefined) result[key] = value;
  return result;
}

/**
 * The body as undici reads it, restarting the deadline at every chunk; `sent` is called once the last byte has gone.
 * An error of the source (the client went away, the file went over the limit) ends this stream with that error,
 * and undici destroying this stream destroys the source in turn.
 */
function withProgress(source: Readable, deadline: Deadline, sent: () => void): Readable {
  const progress = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      deadline.touch();
      callback(null, chunk);
    },
    flush(callback) {
      deadline.touch();
      sent();
      callback();
    },
  });
  return pipeline(source, progress, () => {});
}
