/**
 * When a failed upstream attempt is repeated, and after how long. Only GETs: a POST, PUT or PATCH that failed may
 * still have been applied (a deployment started twice is worse than an error), so they are never repeated,
 * whatever the failure. GETs are repeated on 502, 503, 504 and connection errors, at most 3 times, with
 * exponential backoff and jitter; a 429 is waited out per its Retry-After when that fits in the deadline.
 *
 * Hand-written rather than undici's `interceptors.retry`: each retry is a new EPMware request, so it must take a
 * slot from the credential's budget (queueing behind interactive requests), pass the circuit breaker, and fit in
 * the one UPSTREAM_TIMEOUT_MS deadline that also covers the budget wait. undici's RetryHandler re-dispatches below
 * this client, where none of those is visible, and waits between attempts on a plain timer that the request's
 * abort signal does not cut short. This module is the policy (`retryDelayMs`) and the stage that runs it
 * (`retried`), above the breaker and the budget, so that every attempt passes both.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { upstreamAttemptStarted } from '../observability/tracing.ts';
import { isTimeout, retryAfterMs } from './failures.ts';

export { retryAfterMs } from './failures.ts';

import type { AttemptStage } from './pipeline.ts';

export const RETRY_LIMITS = { maxRetries: 3, baseDelayMs: 200, maxDelayMs: 2_000 } as const;

export type AttemptFailure =
  | { kind: 'answer'; status: number; retryAfterMs: number | undefined }
  | { kind: 'transport'; code: string | undefined; timedOut: boolean };

const RETRIED_STATUSES = new Set([502, 503, 504]);
/** The connection was refused, reset or closed before an answer: the request can be sent again. */
const CONNECTION_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'UND_ERR_SOCKET']);

/** The delay before the next attempt, or null when the failure stands. */
export function retryDelayMs(
  method: string,
  retriesSoFar: number,
  failure: AttemptFailure,
  remainingMs: number,
  random: () => number = Math.random,
): number | null {
  if (method !== 'GET' || retriesSoFar >= RETRY_LIMITS.maxRetries) return null;
  let delay: number;
  if (failure.kind === 'answer' && failure.status === 429) {
    delay = failure.retryAfterMs ?? backoffMs(retriesSoFar, random);
  } else if (failure.kind === 'answer' && RETRIED_STATUSES.has(failure.status)) {
    delay = backoffMs(retriesSoFar, random);
  } else if (failure.kind === 'transport' && !failure.timedOut && CONNECTION_ERRORS.has(failure.code ?? '')) {
    delay = backoffMs(retriesSoFar, random);
  } else {
    return null;
  }
  // A wait that would outlast the deadline is not started: the failure is reported at once (429: RATE_LIMITED).
  return delay < remainingMs ? delay : null;
}

/** Exponential backoff with "equal jitter": half the step fixed, half random, so retries of many clients spread. */
export function backoffMs(retriesSoFar: number, random: () => number = Math.random): number {
  const step = Math.min(RETRY_LIMITS.maxDelayMs, RETRY_LIMITS.baseDelayMs * 2 ** retriesSoFar);
  return Math.round(step / 2 + (random() * step) / 2);
}

/**
 * Attempts until a 2xx answer, a failure that is not retried (returned or thrown as it came, for the exchange to
 * map), or the deadline.
 */
export function retried(metrics: GatewayMetrics): AttemptStage {
  return (next) => async (attempt) => {
    const { call, deadline } = attempt;
    for (;;) {
      upstreamAttemptStarted(attempt.retries);
      let failure: AttemptFailure;
      let response: Awaited<ReturnType<typeof next>> | undefined;
      try {
        response = await next(attempt);
        if (response.statusCode >= 200 && response.statusCode < 300) return response;
        failure = {
          kind: 'answer',
          status: response.statusCode,
          retryAfterMs: retryAfterMs(response.headers),
        };
      } catch (error) {
        const code = (error as { code?: string }).code;
        failure = { kind: 'transport', code, timedOut: isTimeout(error) };
        const delay = retryDelayMs(call.method, attempt.retries, failure, deadline.remainingMs());
        if (delay === null) throw error;
        await pause(delay);
        continue;
      }
      const delay = retryDelayMs(call.method, attempt.retries, failure, deadline.remainingMs());
      if (delay === null) return response;
      await response.body.dump();
      await pause(delay);
    }

    async function pause(delay: number): Promise<void> {
      metrics.upstreamRetries.inc({ endpoint: call.endpoint });
      attempt.retries++;
      try {
        await sleep(delay, undefined, { signal: deadline.signal });
      } catch (error) {
        throw deadline.signal.reason ?? error;
      }
    }
  };
}
