/**
 * One task, polled once per interval for everyone watching it. EPMware only offers polling and budgets 100 requests
 * a minute per credential, so N browser tabs on one deployment must cost one poll per interval, not N.
 *
 * A TaskPoller has no timer of its own until its first subscriber arrives, and none after its last one leaves:
 * it is created by the TaskWatcher for the first subscriber and stopped when the last one goes. Stopping aborts
 * the poll in flight, including one still queued for a budget slot, so nothing reaches EPMware afterwards
 * (issue #11: a stopped poller used to send its queued polls for up to a minute).
 */

import { type ErrorCode, GatewayError, UpstreamError } from '../errors.ts';
import type { EpmTaskStatus } from '../upstream/types.ts';
import { isFinal, type TaskSubscriber, TaskSubscribers } from './task-subscribers.ts';

/** Failures worth waiting out: EPMware (or the way to it) is slow, down or over budget right now. */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set([
  'UPSTREAM_TIMEOUT',
  'UPSTREAM_UNAVAILABLE',
  'RATE_LIMITED',
]);

/**
 * What the TaskWatcher keeps per (credential, task): the in-process TaskPoller, or with Redis the SharedTaskPoller
 * that polls only while it holds the task's lease and otherwise relays what the holder publishes.
 */
export interface TaskFeed {
  readonly stopped: boolean;
  add(subscriber: TaskSubscriber): void;
  remove(subscriber: TaskSubscriber): void;
  /** Ends every subscriber's watch without an error (gateway shutdown) and stops. */
  close(): void;
}

export interface TaskPollerOptions {
  /** One poll. `signal` aborts it when the poller stops, whether it waits for a budget slot or is on the wire. */
  fetchStatus: (signal: AbortSignal) => Promise<EpmTaskStatus>;
  intervalMs: number;
  /** Longest wait between two polls while EPMware keeps failing. */
  maxBackoffMs: number;
  /** How long transient failures may go on before the watch ends with the last one. */
  failureBudgetMs: number;
  /** Called once, when the poller stops for good. */
  onStop: () => void;
  /**
   * Asked before each poll: false skips this one (the next is an interval later). A SharedTaskPoller says false
   * while it cannot be sure it still holds the task's lease, so two instances never poll the same task at once.
   */
  mayPoll?: () => boolean;
}

export class TaskPoller implements TaskFeed {
  readonly #options: TaskPollerOptions;
  readonly #subscribers = new TaskSubscribers();
  #timer: NodeJS.Timeout | undefined;
  /** Aborts the poll in flight (queued for a budget slot or sent): a stopped poller sends nothing more. */
  readonly #abort = new AbortController();
  #started = false;
  #stopped = false;
  /** When the current run of transient failures began; undefined while polls succeed. */
  #failingSince: number | undefined;
  #failures = 0;

  constructor(options: TaskPollerOptions) {
    this.#options = options;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  add(subscriber: TaskSubscriber): void {
    if (this.#stopped) throw new Error('TaskPoller.add after stop');
    this.#subscribers.add(subscriber);
    if (!this.#started) {
      this.#started = true;
      void this.#poll();
    }
  }

  remove(subscriber: TaskSubscriber): void {
    if (this.#subscribers.remove(subscriber)) this.#stop();
  }

  /** Ends every subscriber's watch without an error (gateway shutdown) and stops. */
  close(): void {
    this.#subscribers.endAll();
    this.#stop();
  }

  async #poll(): Promise<void> {
    this.#timer = undefined;
    const startedAt = Date.now();
    if (this.#options.mayPoll && !this.#options.mayPoll()) {
      this.#schedule(this.#options.intervalMs);
      return;
    }
    let task: EpmTaskStatus;
    try {
      task = await this.#options.fetchStatus(this.#abort.signal);
    } catch (error) {
      if (!this.#stopped) this.#failed(error instanceof Error ? error : new Error(String(error)), startedAt);
      return;
    }
    // The last subscriber may have left while the request was out: its answer is for no one.
    if (this.#stopped) return;
    this.#failingSince = undefined;
    this.#failures = 0;
    this.#subscribers.deliver(task);
    if (isFinal(task)) {
      this.close();
      return;
    }
    // Keep the cadence at one poll per interval from poll start, so a slow answer does not stretch it.
    this.#schedule(this.#options.intervalMs - (Date.now() - startedAt));
  }

  #failed(error: Error, startedAt: number): void {
    const { intervalMs, maxBackoffMs, failureBudgetMs } = this.#options;
    const transient = error instanceof GatewayError && TRANSIENT.has(error.code);
    this.#failingSince ??= startedAt;
    const failingFor = Date.now() - this.#failingSince;
    if (!transient || failingFor >= failureBudgetMs) {
      this.#subscribers.endAll(error);
      this.#stop();
      return;
    }
    this.#failures += 1;
    const backoff = Math.min(maxBackoffMs, intervalMs * 2 ** this.#failures);
    const askedFor = error instanceof UpstreamError ? (error.retryAfterMs ?? 0) : 0;
    // Never sleep past the failure budget: the next failure after it ends the watch on time.
    this.#schedule(Math.min(Math.max(backoff, askedFor), maxBackoffMs, failureBudgetMs - failingFor));
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#poll(), Math.max(0, delayMs));
  }

  #stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort.abort(new Error('task poller stopped'));
    this.#options.onStop();
  }
}
