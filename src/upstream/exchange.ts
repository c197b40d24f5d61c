/**
 * The exchange: where a call becomes attempts and their response becomes the call's answer. It starts the call's
 * one deadline (UPSTREAM_TIMEOUT_MS, covering the budget wait, every attempt, the waits between them and, for a
 * buffered answer, reading its body), and maps what comes back: a 2xx to an answer, any other status to an
 * UpstreamError carrying EPMware's message, a transport failure to UPSTREAM_TIMEOUT / UPSTREAM_UNAVAILABLE.
 */
import { Deadline } from './deadline.ts';
import { errorFromResponse, transportError } from './failures.ts';
import type { Answer, Attempt, AttemptHandler, Call, CallHandler } from './pipeline.ts';

export function exchange(timeoutMs: number, origin: string): (send: AttemptHandler) => CallHandler {
  return (send) =>
    async (call: Call): Promise<Answer> => {
      const deadline = new Deadline(timeoutMs, call.signal);
      const attempt: Attempt = {
        call,
        deadline,
        retries: 0,
        verdictGiven: false,
        sentAt: 0,
        bodyPending: false,
      };
      try {
        let response: Awaited<ReturnType<AttemptHandler>>;
        try {
          response = await send(attempt);
        } catch (error) {
          throw transportError(error, call, origin);
        }
        if (response.statusCode < 200 || response.statusCode >= 300)
          throw await errorFromResponse(response, call);
        // A stream's body is bounded by undici's bodyTimeout (no byte for UPSTREAM_TIMEOUT_MS), not by the deadline.
        if (call.streamed)
          return { statusCode: response.statusCode, headers: response.headers, body: response.body };
        try {
          return { status: response.statusCode, text: await response.body.text() };
        } catch (error) {
          throw transportError(error, call, origin);
        }
      } finally {
        deadline.clear();
      }
    };
}
