/**
 * What a failed upstream exchange means for a client: an answer's status and EPMware's own message, or a transport
 * failure (timeout, refused, reset), as an UpstreamError with the contract's code. Tokens never reach a message.
 */
import type { Dispatcher } from 'undici';
import { GatewayError, UpstreamError, upstreamErrorFromStatus } from '../errors.ts';
import { describeConnectError } from './connect-errors.ts';
import { retryAfterMs } from './retry.ts';

/** What an error needs to know about the call. */
export interface FailedCall {
  endpoint: string;
  credential: { appearsIn(text: string): boolean };
}

export async function errorFromResponse(
  response: Dispatcher.ResponseData,
  call: FailedCall,
): Promise<UpstreamError> {
  let message: string | undefined;
  try {
    const text = await response.body.text();
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && 'message' in parsed && typeof parsed.message === 'string') {
      message = parsed.message;
    }
  } catch {
    // A non-JSON error body: the status alone says enough.
  }
  if (message && call.credential.appearsIn(message)) message = undefined;
  return upstreamErrorFromStatus(response.statusCode, message, call.endpoint, retryAfterMs(response.headers));
}

/**
 * `origin` is EPMWARE_URL's: the first failed query names where the gateway tried and why it failed, so whoever
 * reads it can tell a wrong address from a down service (never the path's query, never a token).
 */
export function transportError(
  error: unknown,
  call: FailedCall,
  origin: string,
): UpstreamError | GatewayError {
  if (error instanceof GatewayError) return error;
  if (isTimeout(error)) {
    return new UpstreamError(
      'UPSTREAM_TIMEOUT',
      `EPMware at ${origin} did not answer ${call.endpoint} in time`,
      {
        endpoint: call.endpoint,
        cause: error,
      },
    );
  }
  const cause = describeConnectError(error);
  const why = call.credential.appearsIn(cause) ? '' : ` (${cause})`;
  return new UpstreamError(
    'UPSTREAM_UNAVAILABLE',
    `EPMware could not be reached at ${origin} for ${call.endpoint}${why}`,
    { endpoint: call.endpoint, cause: error },
  );
}

/** What one attempt says about the service: it answered, it is down, or nothing (see breaker.ts). */
export type Outcome = 'answered' | 'outage' | 'no-verdict';

/** The deadline passed, or undici's header, body or connect timeout did: UPSTREAM_TIMEOUT, never retried. */
export function isTimeout(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return (
    (error as { name?: string }).name === 'TimeoutError' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  );
}

/** Answers that mean the service itself is down or unreachable behind EPMware's front door. */
const OUTAGE_STATUSES = new Set([502, 503, 504]);
/** Transport errors that mean EPMware could not be reached at all: refused, reset, unresolvable, unroutable. */
const OUTAGE_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** What an answer says to the circuit breaker: 502/503/504 are an outage; anything else means it is up. */
export function answerOutcome(status: number): Outcome {
  return OUTAGE_STATUSES.has(status) ? 'outage' : 'answered';
}

/** How long an attempt waited, for telling EPMware's silence from the gateway's own clock running out. */
export interface AttemptTiming {
  /** Since the request went out (or its body's last chunk moved). */
  waitedMs: number;
  /** A timeout counts only after the attempt waited this long: half of UPSTREAM_TIMEOUT_MS. */
  evidenceMs: number;
  /** The request body was still being sent: a stall may be the client's, not EPMware's. */
  bodyPending: boolean;
}

/**
 * What a transport failure says to the circuit breaker. Connection failures are an outage. A timeout is one only
 * when the request had been waiting for EPMware's answer for a fair share of the deadline (a slot granted with
 * ~0 ms left that times out at once proves nothing) and its body had been sent. Everything else (an invalid header
 * refused before sending, a caller's abort, a client's upload stream failing) is no verdict.
 */
export function transportOutcome(error: unknown, timing: AttemptTiming): Outcome {
  const code = (error as { code?: string }).code;
  const name = (error as { name?: string }).name;
  if (name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return !timing.bodyPending && timing.waitedMs >= timing.evidenceMs ? 'outage' : 'no-verdict';
  }
  if (timing.bodyPending && code !== 'ECONNREFUSED' && code !== 'UND_ERR_CONNECT_TIMEOUT')
    return 'no-verdict';
  return code !== undefined && OUTAGE_ERROR_CODES.has(code) ? 'outage' : 'no-verdict';
}
