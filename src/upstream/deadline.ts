/**
 * One upstream call's deadline: UPSTREAM_TIMEOUT_MS from the moment the call starts, covering the wait for budget,
 * every attempt and the waits between them. Its signal aborts the attempt in flight with a TimeoutError (mapped to
 * UPSTREAM_TIMEOUT); the caller's own signal (a client that went away) is folded in.
 *
 * A call that streams a body (an upload) is bounded by progress instead: every chunk that moves calls `touch()`,
 * which starts the UPSTREAM_TIMEOUT_MS over, so a 50 MB upload at a steady pace never times out while one that
 * stalls for UPSTREAM_TIMEOUT_MS does.
 */
export class Deadline {
  readonly signal: AbortSignal;
  /** The caller's own signal, without the deadline: the budget queue handles the deadline itself. */
  readonly callerSignal: AbortSignal | undefined;
  readonly #timeoutMs: number;
  readonly #controller = new AbortController();
  #timer: NodeJS.Timeout;
  #at: number;
  /** When the clock last started: the call's start, or the last chunk that moved. */
  #progressAt: number;

  constructor(timeoutMs: number, callerSignal?: AbortSignal) {
    this.#timeoutMs = timeoutMs;
    this.#progressAt = Date.now();
    this.#at = this.#progressAt + timeoutMs;
    this.#timer = this.#start();
    this.callerSignal = callerSignal;
    this.signal = callerSignal
      ? AbortSignal.any([callerSignal, this.#controller.signal])
      : this.#controller.signal;
  }

  /** When the deadline passes, as things stand now. */
  get at(): number {
    return this.#at;
  }

  /** When the clock last started (the call's start or the last progress). */
  get progressAt(): number {
    return this.#progressAt;
  }

  remainingMs(): number {
    return Math.max(0, this.#at - Date.now());
  }

  /** The caller gave up (as opposed to the deadline passing). */
  get callerAborted(): boolean {
    return this.callerSignal?.aborted ?? false;
  }

  /** Bytes moved: the deadline is UPSTREAM_TIMEOUT_MS from now. Cheap enough to call per chunk. */
  touch(): void {
    if (this.#controller.signal.aborted) return;
    this.#progressAt = Date.now();
    this.#at = this.#progressAt + this.#timeoutMs;
    this.#timer.refresh();
  }

  /** Stops the clock: once a download's headers are in, its body is bounded by undici's bodyTimeout instead. */
  clear(): void {
    clearTimeout(this.#timer);
  }

  #start(): NodeJS.Timeout {
    return setTimeout(
      () => this.#controller.abort(new DOMException('The upstream deadline passed', 'TimeoutError')),
      this.#timeoutMs,
    );
  }
}
