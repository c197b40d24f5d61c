/**
 * One upstream call's deadline: UPSTREAM_TIMEOUT_MS from the moment the call starts, covering the wait for budget,
 * every attempt and the waits between them. Its signal aborts the attempt in flight with a TimeoutError (mapped to
 * UPSTREAM_TIMEOUT); the caller's own signal (a client that went away) is folded in.
 */
export class Deadline {
  readonly at: number;
  readonly signal: AbortSignal;
  /** The caller's own signal, without the deadline: the budget queue handles the deadline itself. */
  readonly callerSignal: AbortSignal | undefined;
  readonly #timer: NodeJS.Timeout;

  constructor(timeoutMs: number, callerSignal?: AbortSignal) {
    this.at = Date.now() + timeoutMs;
    const controller = new AbortController();
    this.#timer = setTimeout(
      () => controller.abort(new DOMException('The upstream deadline passed', 'TimeoutError')),
      timeoutMs,
    );
    this.callerSignal = callerSignal;
    this.signal = callerSignal ? AbortSignal.any([callerSignal, controller.signal]) : controller.signal;
  }

  remainingMs(): number {
    return Math.max(0, this.at - Date.now());
  }

  /** The caller gave up (as opposed to the deadline passing). */
  get callerAborted(): boolean {
    return this.callerSignal?.aborted ?? false;
  }

  /** Stops the clock: once a download's headers are in, its body is bounded by undici's bodyTimeout instead. */
  clear(): void {
    clearTimeout(this.#timer);
  }
}
