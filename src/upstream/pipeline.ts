/**
 * The shape of the upstream pipeline: what a call carries and what a stage is. Every concern of an upstream call
 * (counting, invalidation, cache, coalescing, deadline, tracing, retry, breaker, fair share, budget) is one stage,
 * a function that wraps the next one, as undici's interceptors wrap a dispatch; `client.ts` lists them in order.
 *
 * There are two layers. Above the exchange, a stage sees a whole call and its answer (an `Answer`: buffered text or
 * a stream), and may answer without calling further (the cache, a joined read). The exchange stage starts the
 * call's deadline and turns the response into that answer; below it, a stage sees one `Attempt` at a time and the
 * raw response (the retry stage sends several).
 *
 * Why our own stages and not undici's `Dispatcher.compose`: the stages above the budget wait (coalescing, retry,
 * the deadline that covers the wait) must run before a request exists, and the cache must hand back the same
 * answer object on every hit (parsed answers and their indexes are memoized on it). undici's interceptors see
 * one dispatched request's bytes, so they could do neither.
 */
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Credential } from './credential.ts';
import type { Deadline } from './deadline.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH';

/** EPMware's documented rate-limit classes (100/min standard, 10/min uploads, 5/min bulk). */
export type EndpointClass = 'standard' | 'upload' | 'bulk';
/** Interactive requests are served before background task polls when the budget is short. */
export type Priority = 'interactive' | 'background';

/** Counts one GraphQL operation's upstream calls, refusing past its limit (cost/call-counter.ts). */
export interface CallCounter {
  /** Counts one call, or throws. */
  take(endpoint: string): void;
}

/** One upstream call, as an endpoint method (`epmware.ts`) describes it. */
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
  /** The caller gave up (its client went away): leave the budget queue, abort the request. */
  signal?: AbortSignal;
  /**
   * This caller's own request: neither answered from the cache nor joined to an identical read in flight. For a
   * caller that aborts (a task poll whose last watcher left), so that aborting withdraws its own budget claim and
   * request, which a shared one could not.
   */
  ownRequest?: boolean;
  /** The GraphQL operation this call is for: counted against MAX_UPSTREAM_CALLS_PER_OPERATION. */
  counter?: CallCounter;
  /** Set when EPMWARE_TOKEN stands in for a client that sent none: that client's address, for its fair share. */
  clientKey?: string;
}

/** A call as the stages pass it on: the endpoint's description plus what earlier stages settled. */
export interface Call extends UpstreamCall {
  /** The answer's body is handed to the caller as a stream (downloads): never cached or coalesced. */
  streamed?: boolean;
  /** The cache's key for this read (credential, method, path, sorted query), computed once for both reuse stages. */
  readKey?: string;
  /** Keeps the answer for later identical reads; the coalescing stage calls it unless a write made it stale. */
  store?: (answer: BufferedAnswer) => void;
}

/** A whole 2xx answer, as the cache keeps it: the same object on every hit for as long as the entry lives. */
export interface BufferedAnswer {
  status: number;
  text: string;
}

/** A 2xx answer whose body the caller consumes (or destroys). */
export interface StreamedAnswer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

export type Answer = BufferedAnswer | StreamedAnswer;

export function isBuffered(answer: Answer): answer is BufferedAnswer {
  return 'text' in answer;
}

/** One call on its way below the exchange: its deadline and what the attempts so far have established. */
export interface Attempt {
  readonly call: Call;
  readonly deadline: Deadline;
  /** Attempts before this one. */
  retries: number;
  /** An earlier attempt already gave the breaker its verdict: the window counts calls, not attempts. */
  verdictGiven: boolean;
  /** When this attempt's request went out (after its budget wait). */
  sentAt: number;
  /** The request body is still being sent: a stall may be the client's, not EPMware's. */
  bodyPending: boolean;
}

/** A stage above the exchange: a whole call in, its answer out. */
export type CallHandler = (call: Call) => Promise<Answer>;
export type CallStage = (next: CallHandler) => CallHandler;

/** A stage below the exchange: one attempt in, EPMware's raw response out (any status). */
export type AttemptHandler = (attempt: Attempt) => Promise<Dispatcher.ResponseData>;
export type AttemptStage = (next: AttemptHandler) => AttemptHandler;

/**
 * The pipeline: call stages, outermost first, then the exchange that turns attempts into answers, then attempt
 * stages, outermost first, down to the request itself.
 */
export function composePipeline(
  callStages: readonly CallStage[],
  exchange: (send: AttemptHandler) => CallHandler,
  attemptStages: readonly AttemptStage[],
  send: AttemptHandler,
): CallHandler {
  const attempts = attemptStages.reduceRight((next, stage) => stage(next), send);
  return callStages.reduceRight((next, stage) => stage(next), exchange(attempts));
}

/** Reads and writes differ in what may be reused: only GETs are cached, coalesced or retried. */
export function isRead(call: UpstreamCall): boolean {
  return call.method === 'GET';
}
