/**
 * The registry of task pollers: one TaskPoller per (credential, task), shared by every subscriber of that pair.
 * Keys use the credential's fingerprint, so two tokens watching the same task id never share what was fetched.
 * Each subscriber gets its own stream, a Repeater that leaves its poller when the subscriber goes away.
 */
import { Repeater, SlidingBuffer } from '@repeaterjs/repeater';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { UpstreamClient } from '../upstream/client.ts';
import type { Credential } from '../upstream/credential.ts';
import { Epmware } from '../upstream/epmware.ts';
import type { EpmTaskStatus } from '../upstream/types.ts';
import { TaskPoller, type TaskSubscriber } from './task-poller.ts';

/** What a watch yields: the task (first as it is now, then after each change), or the error that ended it. */
export type TaskUpdate = EpmTaskStatus | Error;

export interface TaskWatcherOptions {
  upstream: UpstreamClient;
  metrics: GatewayMetrics;
  /** TASK_POLL_INTERVAL_MS. */
  intervalMs: number;
  /** Default: 8 intervals. */
  maxBackoffMs?: number;
  /** Default: max(10 intervals, 30 s). */
  failureBudgetMs?: number;
}

export class TaskWatcher {
  readonly #options: Required<TaskWatcherOptions>;
  readonly #pollers = new Map<string, TaskPoller>();
  #closed = false;

  constructor(options: TaskWatcherOptions) {
    const { intervalMs } = options;
    this.#options = {
      ...options,
      maxBackoffMs: options.maxBackoffMs ?? 8 * intervalMs,
      failureBudgetMs: options.failureBudgetMs ?? Math.max(10 * intervalMs, 30_000),
    };
  }

  /** Pollers running now (one per credential and task). */
  get pollerCount(): number {
    return this.#pollers.size;
  }

  /**
   * One subscriber's stream. It polls nothing until first pulled; returning it (client unsubscribed or
   * disconnected) leaves the poller, which stops with its last subscriber.
   */
  watch(credential: Credential, taskId: string): Repeater<TaskUpdate> {
    // A sliding buffer of one: a slow client gets the newest progress, never a backlog of stale ones.
    return new Repeater<TaskUpdate>(async (push, stop) => {
      if (this.#closed) return stop();
      const subscriber: TaskSubscriber = {
        next: (task) => void push(task),
        end: (error) => {
          if (error) void push(error);
          stop();
        },
      };
      const poller = this.#pollerFor(credential, taskId);
      const { activeSubscriptions } = this.#options.metrics;
      activeSubscriptions.inc();
      poller.add(subscriber);
      await stop;
      poller.remove(subscriber);
      activeSubscriptions.dec();
    }, new SlidingBuffer(1));
  }

  /**
   * Completes every stream and stops every poller (gateway shutdown); later watches complete at once. Resolves
   * after one turn of the event loop, so transports have written their `complete` before sockets are closed.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const poller of [...this.#pollers.values()]) poller.close();
    await new Promise((resolve) => setImmediate(resolve));
  }

  #pollerFor(credential: Credential, taskId: string): TaskPoller {
    const key = `${credential.fingerprint}\u0000${taskId}`;
    const running = this.#pollers.get(key);
    if (running && !running.stopped) return running;
    const { upstream, metrics, intervalMs, maxBackoffMs, failureBudgetMs } = this.#options;
    const epmware = new Epmware(upstream, credential);
    const poller = new TaskPoller({
      // 'background': when the credential's budget is short, interactive queries go first.
      fetchStatus: () => epmware.taskStatus(taskId, 'background'),
      intervalMs,
      maxBackoffMs,
      failureBudgetMs,
      onStop: () => {
        if (this.#pollers.get(key) === poller) this.#pollers.delete(key);
        metrics.activePollers.dec();
      },
    });
    this.#pollers.set(key, poller);
    metrics.activePollers.inc();
    return poller;
  }
}
