/**
 * What a failed upstream exchange means for a client: an answer's status and EPMware's own message, or a transport
 * failure (timeout, refused, reset), as an UpstreamError with the contract's code. Tokens never reach a message.
 */
import type { Dispatcher } from 'undici';
import { GatewayError, UpstreamError, upstreamErrorFromStatus } from '../errors.ts';
import { describeConnectError, describeConnectErrorForClients } from './connect-errors.ts';

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
 * A transport failure as the client sees it: what failed and why ("ECONNREFUSED, connection refused"), never
 * where. `origin` (EPMWARE_URL's) goes only into the error's cause, which the log shows: an operator can tell a
 * wrong address from a down service there, and from the start-up probe's warning, while a browser never learns
 * EPMware's internal address (contract, "Errors"). Never a query string, never a token.
 */
export function transportError(
  error: unknown,
  call: FailedCall,
  origin: string,
): UpstreamError | GatewayError {
  if (error instanceof GatewayError) return error;
  const forTheLog = (what: string) =>
    new Error(`EPMware at ${origin}, ${call.endpoint}: ${what}`, { cause: error });
  if (isTimeout(error)) {
    return new UpstreamError('UPSTREAM_TIMEOUT', `EPMware did not answer ${call.endpoint} in time`, {
      endpoint: call.endpoint,
      cause: forTheLog('no answer in time'),
    });
  }
  const cause = describeConnectErrorForClients(error);
  return new UpstreamError(
    'UPSTREAM_UNAVAILABLE',
    `EPMware could not be reached for ${call.endpoint} (${cause})`,
    {
      endpoint: call.endpoint,
      cause: forTheLog(
        call.credential.appearsIn(describeConnectError(error)) ? cause : describeConnectError(error),
      ),
    },
  );
}

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

/** What one attempt says about the service: it answered, it is down, or nothing (see breaker.ts). */
export type Outcome = 'answered' | 'outage' | 'no-verdict';

/** Who asked for what, for one attempt: the outage evidence of one credential asking for one path is not enough. */
export interface EvidenceSource {
  /** The credential's fingerprint (never the token). */
  credential: string;
  /** The path asked for, below /service/api (ids included; the query only filters it). */
  path: string;
  /** Its request line and headers were large enough for a front door to refuse it: its failure is no evidence. */
  oversized: boolean;
}

/**
 * The largest request line plus headers whose failure may count as evidence. Front doors refuse heads past their
 * buffer, often by resetting the connection: Tomcat's maxHttpHeaderSize (8 KB, request line and headers together),
 * Apache's LimitRequestLine and LimitRequestFieldSize (8,190 bytes each), nginx's large_client_header_buffers
 * (8 KB a line). 8 KB is the smallest of those defaults, so a head under it is one every common front door takes,
 * and a failure past it may be the request's own fault. What the edge lets through (a token of at most 4,096
 * characters, ids and names of at most 256) stays under it: about 7.4 KB at worst, with names of 4-byte characters.
 */
export const OVERSIZED_REQUEST_BYTES = 8 * 1024;
/** The headers undici adds to ours (host, connection, content-length, content-type), generously. */
const ADDED_HEADER_BYTES = 256;

/** What the breaker needs of a call to weigh its failure. */
export interface WeighedCall {
  method: string;
  path: string;
  query?: Record<string, string | undefined>;
  credential: { fingerprint: string; authorizationHeader(): string };
}

/**
 * Who asked for what, and whether the request was big enough for a front door to refuse: the breaker's evidence
 * source for one attempt (breaker.ts). `prefix` is what comes before the call's path (EPMWARE_URL's path and
 * /service/api).
 */
export function evidenceSource(call: WeighedCall, prefix: string): EvidenceSource {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(call.query ?? {}))
    if (value !== undefined) query.append(key, value);
  const search = query.size > 0 ? `?${query}` : '';
  const head =
    Buffer.byteLength(`${call.method} ${prefix}${call.path}${search} HTTP/1.1\r\n`) +
    Buffer.byteLength(`authorization: ${call.credential.authorizationHeader()}\r\n`) +
    'accept: application/json\r\n'.length +
    ADDED_HEADER_BYTES;
  return {
    credential: call.credential.fingerprint,
    path: call.path,
    oversized: head > OVERSIZED_REQUEST_BYTES,
  };
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

/** `Retry-After` as seconds or an HTTP date, in milliseconds from now. */
export function retryAfterMs(headers: Record<string, string | string[] | undefined>): number | undefined {
  const raw = headers['retry-after'];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
