/**
 * The last stage: the request itself, with undici on a Pool to EPMWARE_URL's origin. The token goes in the
 * Authorization header EPMware expects, to that origin only: redirects are not followed (undici's `request` does
 * not, and no redirect interceptor is composed), so a 3xx surfaces as UPSTREAM_ERROR.
 */
import { pipeline, type Readable, Transform } from 'node:stream';
import { type Dispatcher, type Pool, request } from 'undici';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { upstreamRequestSent } from '../observability/tracing.ts';
import { serviceOf } from './breaker.ts';
import type { Deadline } from './deadline.ts';
import type { Attempt, AttemptHandler } from './pipeline.ts';

/** Where EPMware's endpoints live below its base URL. */
export const API_PREFIX = '/service/api';

export interface DispatchTarget {
  /** EPMWARE_URL's origin and the path before /service/api (an instance under a path prefix). */
  origin: string;
  basePath: string;
  pool: Pool;
  /** Uploads' own connections: a slow client's upload never holds one that reads and writes wait for. */
  uploadPool: Pool;
  metrics: GatewayMetrics;
}

export function dispatchTo(target: DispatchTarget): AttemptHandler {
  const { origin, basePath, pool, uploadPool, metrics } = target;
  return async (attempt: Attempt): Promise<Dispatcher.ResponseData> => {
    const { call, deadline } = attempt;
    attempt.sentAt = Date.now();
    attempt.bodyPending = call.body !== undefined;
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
        attempt.bodyPending = false;
      });
    }
    const labels = { endpoint: call.endpoint, method: call.method };
    const stopTimer = metrics.upstreamDuration.startTimer({ ...labels, service: serviceOf(call.path) });
    try {
      const sent = request(`${origin}${basePath}${API_PREFIX}${call.path}`, {
        dispatcher: call.endpointClass === 'upload' ? uploadPool : pool,
        method: call.method,
        query: definedOnly(call.query),
        headers,
        body: payload,
        // A streamed body is bounded by its progress (the deadline restarts per chunk), not by undici's headers
        // timeout, which would run while a slow but steady upload is still being sent.
        ...(call.body ? { headersTimeout: 0 } : {}),
        signal: deadline.signal,
      });
      // undici honours the signal once the request has a connection; one still queued for a connection (all of
      // them busy) would wait for it past the deadline, so the caller stops waiting when the signal fires.
      const response = await untilAborted(sent, deadline.signal);
      metrics.upstreamRequests.inc({ ...labels, status: String(response.statusCode) });
      if (response.statusCode === 429) metrics.upstreamRateLimited.inc({ endpoint: call.endpoint });
      return response;
    } catch (error) {
      metrics.upstreamRequests.inc({ ...labels, status: '0' });
      throw error;
    } finally {
      stopTimer();
    }
  };
}

/**
 * The request's response, or its signal's reason as soon as the signal fires. A response that arrives after that
 * (undici sends a queued request once a connection frees up, then sees its signal aborted) is discarded.
 */
function untilAborted(
  sent: Promise<Dispatcher.ResponseData>,
  signal: AbortSignal,
): Promise<Dispatcher.ResponseData> {
  if (signal.aborted) {
    sent.then(
      (late) => late.body.destroy(),
      () => {},
    );
    return Promise.reject(signal.reason);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason);
      sent.then(
        (late) => late.body.destroy(),
        () => {},
      );
    };
    signal.addEventListener('abort', onAbort, { once: true });
    sent.then(
      (response) => {
        signal.removeEventListener('abort', onAbort);
        resolve(response);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
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
