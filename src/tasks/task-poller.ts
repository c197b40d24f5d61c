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
import { percentCompleted, taskState } from './task-state.ts';

/** Failures worth waiting out: EPMware (or the way to it) is slow, down or over budget right now. */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set([
  'UPSTREAM_TIMEOUT',
  'UPSTREAM_UNAVAILABLE',
  'RATE_LIMITED',
]);

export interface TaskSubscriber {
  /** The task as last polled: at once when the poller knows it, then after every change. */
  next(task: EpmTaskStatus): void;
  /** The watch is over: right after the terminal state (no error), or with the error that ended it. */
  end(error?: Error): void;
}

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
  readonly #subscribers = new Set<TaskSubscriber>();
  #latest: EpmTaskStatus | undefined;
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

  /** A late subscriber gets the latest known state at once, without an upstream call of its own. */
  add(subscriber: TaskSubscriber): void {
    if (this.#stopped) throw new Error('TaskPoller.add after stop');
    this.#subscribers.add(subscriber);
    if (this.#latest) subscriber.next(this.#latest);
    if (!this.#started) {
      this.#started = true;
      void this.#poll();
    }
  }

  remove(subscriber: TaskSubscriber): void {
    this.#subscribers.delete(subscriber);
    if (this.#subscribers.size === 0) this.#stop();
  }

  /** Ends every subscriber's watch without an error (gateway shutdown) and stops. */
  close(): void {
    this.#endAll();
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
    const changed = !this.#latest || !sameProgress(this.#latest, task);
    if (changed) {
      this.#latest = task;
      for (const subscriber of [...this.#subscribers]) subscriber.next(task);
    }
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
      this.#endAll(error);
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

  #endAll(error?: Error): void {
    const subscribers = [...this.#subscribers];
    this.#subscribers.clear();
    for (const subscriber of subscribers) subscriber.end(error);
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

/** What a subscriber sees change: state, percentCompleted and message (not the raw P/R code behind RUNNING). */
export function sameProgress(a: EpmTaskStatus, b: EpmTaskStatus): boolean {
  return (
    taskState(a.status) === taskState(b.status) &&
    percentCompleted(a.percentCompleted) === percentCompleted(b.percentCompleted) &&
    (a.message ?? null) === (b.message ?? null)
  );
}

/** SUCCEEDED or FAILED: nothing will change any more. */
export function isFinal(task: EpmTaskStatus): boolean {
  return taskState(task.status) !== 'RUNNING';
}
