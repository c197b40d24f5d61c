/**
 * What a failed upstream exchange means for a client: an answer's status and EPMware's own message, or a transport
 * failure (timeout, refused, reset), as an UpstreamError with the contract's code. Tokens never reach a message.
 */
import type { Dispatcher } from 'undici';
import { GatewayError, UpstreamError, upstreamErrorFromStatus } from '../errors.ts';
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

export function transportError(error: unknown, call: FailedCall): UpstreamError | GatewayError {
  if (error instanceof GatewayError) return error;
  const code = (error as { code?: string; name?: string }).code;
  const name = (error as { name?: string }).name;
  if (
    name === 'TimeoutError' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  ) {
    return new UpstreamError('UPSTREAM_TIMEOUT', `EPMware did not answer ${call.endpoint} in time`, {
      endpoint: call.endpoint,
      cause: error,
    });
  }
  return new UpstreamError('UPSTREAM_UNAVAILABLE', `EPMware could not be reached for ${call.endpoint}`, {
    endpoint: call.endpoint,
    cause: error,
  });
}
