/**
 * The short fuse: tells a Redis that stopped answering while its TCP connection stays open (a SIGSTOPped or wedged
 * process, a host gone without a reset) from one that is merely busy, so the gateway stops waiting on it within
 * two seconds instead of paying a command timeout on every request (issue #19: 0.5-1 s per request, 36 req/s).
 *
 * - A PING probe goes out every HEARTBEAT_MS while the connection is usable, and at once after any command
 *   timed out. One probe at a time: while one is unanswered, another would only queue behind it.
 * - A probe unanswered after PROBE_TIMEOUT_MS blows the fuse (the connection counts as down). Redis runs commands
 *   one at a time, so a PING that waits that long means every command waits that long: a command and then a PING
 *   timing out in a row is enough. Before deciding, the check yields to pending I/O once: when this process was
 *   the slow one (a long GC or CPU burst), the answer is already in the socket buffer and is read first.
 * - The probe that is still out mends the fuse when it is answered (the Redis came back), with no new
 *   connection and nothing lost; if it is still unanswered after PROBE_GIVE_UP_MS the connection itself is
 *   presumed dead (a half-open TCP connection answers nothing ever) and the owner reconnects.
 *
 * Hand-written rather than ioredis' `socketTimeout`: that option destroys the socket after any gap in replies,
 * including a gap this process caused itself, and against a stopped Redis the reconnect succeeds at the TCP level
 * (the kernel still accepts into the listen backlog) and then hangs in the handshake; the fuse keeps the
 * connection, sends nothing on a request's path while blown, and waits on one PING.
 */

/** How often a usable connection is checked when nothing else shows whether Redis answers. */
export const HEARTBEAT_MS = 1_000;
/** A PING unanswered this long blows the fuse (as long as a command may take: REDIS_COMMAND_TIMEOUT_MS). */
export const PROBE_TIMEOUT_MS = 500;
/** A probe unanswered this long: the connection is dead, reconnect. */
export const PROBE_GIVE_UP_MS = 10_000;

export interface RedisFuseOptions {
  /** Sends one PING that is awaited up to PROBE_GIVE_UP_MS (rejected with "Command timed out" after that). */
  ping(): Promise<unknown>;
  /** A probe went unanswered: Redis is not answering. */
  onBlown(): void;
  /** The probe that was out has been answered: Redis answers again. */
  onMended(): void;
  /** The probe gave up: the connection is presumed dead. */
  onHopeless(): void;
}

export class RedisFuse {
  readonly #options: RedisFuseOptions;
  #heartbeat: NodeJS.Timeout | undefined;
  /** The probe out now (compared by identity, so a stale probe's answer changes nothing). */
  #probe: { answered: boolean } | null = null;
  #blown = false;

  constructor(options: RedisFuseOptions) {
    this.#options = options;
  }

  get blown(): boolean {
    return this.#blown;
  }

  /** The connection is usable: watch it. */
  arm(): void {
    this.disarm();
    this.#heartbeat = setInterval(() => this.#sendProbe(), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  /** The connection closed (or this gateway is closing): stop watching; a new connection arms it again. */
  disarm(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#probe = null;
    this.#blown = false;
  }

  /** A command on the connection timed out: check now instead of at the next heartbeat. */
  commandTimedOut(): void {
    if (this.#heartbeat) this.#sendProbe();
  }

  #sendProbe(): void {
    if (this.#probe) return;
    const probe = { answered: false };
    this.#probe = probe;
    this.#options.ping().then(
      () => {
        probe.answered = true;
        if (this.#probe !== probe) return;
        this.#probe = null;
        if (this.#blown) {
          this.#blown = false;
          this.#options.onMended();
        }
      },
      (error: unknown) => {
        if (this.#probe !== probe) return;
        this.#probe = null;
        if (this.#blown && error instanceof Error && error.message === 'Command timed out') {
          this.#options.onHopeless();
        }
      },
    );
    const late = setTimeout(() => {
      // An answer that arrived while this process was busy is read before the verdict.
      setImmediate(() => {
        if (probe.answered || this.#probe !== probe || this.#blown) return;
        this.#blown = true;
        this.#options.onBlown();
      });
    }, PROBE_TIMEOUT_MS);
    late.unref();
  }
}
