/**
 * The registry of task pollers: one feed per (credential, task), shared by every subscriber of that pair on this
 * instance. Keys use the credential's fingerprint, so two tokens watching the same task id never share what was
 * fetched. Without Redis a feed is a TaskPoller; with Redis it is a SharedTaskPoller, which polls only while this
 * instance holds the task's lease. Each subscriber gets its own stream, a Repeater that leaves its feed when the
 * subscriber goes away.
 *
 * The registry is bounded (watch-quota.ts): at most MAX_WATCHED_TASKS tasks watched at once, and at most
 * MAX_WATCHED_TASKS_PER_CREDENTIAL of them for one credential, so one token cannot fill the instance and refuse
 * everyone else; a watch that would need one more task is refused with RATE_LIMITED before anything is polled.
 * A watch of an unknown task ends with NOT_FOUND at its first poll's 404, and its feed stops then, giving its
 * slot back at once. (The per-socket cap lives in the WebSocket transport; an SSE request carries one
 * subscription, so these caps cover SSE.)
 */
import { randomUUID } from 'node:crypto';
import { Repeater, SlidingBuffer } from '@repeaterjs/repeater';
import { GatewayError } from '../errors.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { RedisConnection } from '../redis/connection.ts';
import type { UpstreamClient } from '../upstream/client.ts';
import type { Credential } from '../upstream/credential.ts';
import { Epmware } from '../upstream/epmware.ts';
import type { EpmTaskStatus } from '../upstream/types.ts';
import { type PollerRole, SharedTaskPoller } from './shared-task-poller.ts';
import { TaskFanout } from './task-fanout.ts';
import { TaskLease } from './task-lease.ts';
import { type TaskFeed, TaskPoller } from './task-poller.ts';
import type { TaskSubscriber } from './task-subscribers.ts';
import { WatchQuota } from './watch-quota.ts';

/** What a watch yields: the task (first as it is now, then after each change), or the error that ended it. */
export type TaskUpdate = EpmTaskStatus | Error;

/** Tasks watched at once per instance, whatever the number of subscribers (issue #11: ~27 KB each). The
 * gateway passes MAX_WATCHED_TASKS, whose default this is. */
export const DEFAULT_MAX_POLLERS = 10_000;
/** Of those, the most one credential may hold: MAX_WATCHED_TASKS_PER_CREDENTIAL's default. */
export const DEFAULT_MAX_POLLERS_PER_CREDENTIAL = 1_000;

export interface TaskWatcherTuning {
  /** Default: 8 intervals. */
  maxBackoffMs?: number;
  /** Default: max(10 intervals, 30 s). */
  failureBudgetMs?: number;
  /** Tasks watched at once on this instance (MAX_WATCHED_TASKS); default DEFAULT_MAX_POLLERS. */
  maxPollers?: number;
  /** Of those, the most one credential may hold (MAX_WATCHED_TASKS_PER_CREDENTIAL); capped by maxPollers. */
  maxPollersPerCredential?: number;
}

export interface TaskWatcherOptions extends TaskWatcherTuning {
  upstream: UpstreamClient;
  metrics: GatewayMetrics;
  /** TASK_POLL_INTERVAL_MS. */
  intervalMs: number;
  /** REDIS_URL's connection: one poller per task across instances. null or absent: in-process only. */
  redis?: RedisConnection | null;
}

export class TaskWatcher {
  readonly #options: Required<TaskWatcherOptions>;
  readonly #feeds = new Map<string, TaskFeed>();
  readonly #quota: WatchQuota;
  readonly #roles = new Map<PollerRole, number>();
  readonly #fanout: TaskFanout | null;
  readonly #instanceId = randomUUID();
  readonly #unlisten: () => void;
  #closed = false;

  constructor(options: TaskWatcherOptions) {
    const { intervalMs } = options;
    this.#options = {
      ...options,
      redis: options.redis ?? null,
      maxBackoffMs: options.maxBackoffMs ?? 8 * intervalMs,
      failureBudgetMs: options.failureBudgetMs ?? Math.max(10 * intervalMs, 30_000),
      maxPollers: options.maxPollers ?? DEFAULT_MAX_POLLERS,
      maxPollersPerCredential: options.maxPollersPerCredential ?? DEFAULT_MAX_POLLERS_PER_CREDENTIAL,
    };
    const { redis, maxPollers, maxPollersPerCredential } = this.#options;
    this.#quota = new WatchQuota({
      maxTasks: maxPollers,
      maxPerCredential: Math.min(maxPollers, maxPollersPerCredential),
    });
    this.#fanout = redis ? new TaskFanout(redis) : null;
    // Redis came back (or went): every shared feed decides at once whether it polls, instead of at its next tick.
    this.#unlisten =
      redis?.onStateChange(() => {
        for (const feed of this.#feeds.values()) if (feed instanceof SharedTaskPoller) feed.retick();
      }) ?? (() => {});
  }

  /** Tasks watched on this instance now (one feed per credential and task). */
  get pollerCount(): number {
    return this.#feeds.size;
  }

  /** Credentials watching at least one task here (the per-credential bookkeeping's size). */
  get watchingCredentials(): number {
    return this.#quota.credentials;
  }

  /** Of those, how many poll EPMware from here (with Redis: the leases held, plus any solo while it is away). */
  get pollingCount(): number {
    let count = 0;
    for (const feed of this.#feeds.values()) if (!(feed instanceof SharedTaskPoller) || feed.polling) count++;
    return count;
  }

  /** Leases held and valid on this instance now: across instances sharing a Redis, at most one per task. */
  get leasesHeld(): number {
    let count = 0;
    for (const feed of this.#feeds.values()) if (feed instanceof SharedTaskPoller && feed.leading) count++;
    return count;
  }

  /** Whether task polls are coordinated through Redis right now (false without REDIS_URL or while it is away). */
  get sharing(): boolean {
    return this.#options.redis?.isUp() ?? false;
  }

  /** How many shared feeds are in each role (tests and benchmarks watch the hand-over). */
  roleCount(role: PollerRole): number {
    return this.#roles.get(role) ?? 0;
  }

  /**
   * One subscriber's stream. It polls nothing until first pulled; returning it (client unsubscribed or
   * disconnected) leaves the feed, which stops with its last subscriber. Over either quota it throws
   * RATE_LIMITED at once, so the client gets an error instead of a stream.
   */
  watch(credential: Credential, taskId: string): Repeater<TaskUpdate> {
    const key = `${credential.fingerprint}\u0000${taskId}`;
    if (!this.#closed && !this.#feeds.has(key)) {
      const refusal = this.#quota.refusal(credential.fingerprint);
      if (refusal) throw refusal;
    }
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
      // Checked again: many streams may have been handed out before the first of them was pulled.
      const feed = this.#feedFor(key, credential, taskId);
      if (feed instanceof GatewayError) {
        void push(feed);
        return stop();
      }
      const { activeSubscriptions } = this.#options.metrics;
      activeSubscriptions.inc();
      feed.add(subscriber);
      await stop;
      feed.remove(subscriber);
      activeSubscriptions.dec();
    }, new SlidingBuffer(1));
  }

  /**
   * Completes every stream and stops every poller (gateway shutdown); later watches complete at once. Resolves
   * after one turn of the event loop, so transports have written their `complete` before sockets are closed.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unlisten();
    for (const feed of [...this.#feeds.values()]) feed.close();
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** The task's running feed, a new one, or the refusal when a new one is over a quota. */
  #feedFor(key: string, credential: Credential, taskId: string): TaskFeed | GatewayError {
    const running = this.#feeds.get(key);
    if (running && !running.stopped) return running;
    const { fingerprint } = credential;
    const refusal = this.#quota.refusal(fingerprint);
    if (refusal) return refusal;
    const { metrics } = this.#options;
    this.#quota.take(fingerprint);
    // Called once, when the feed stops for good (last subscriber gone, final status, or the error that ended
    // it, such as the 404 of an unknown task): its slot is free from then on.
    const onStop = () => {
      if (this.#feeds.get(key) === feed) this.#feeds.delete(key);
      this.#quota.release(fingerprint);
      metrics.activePollers.dec();
    };
    const feed = this.#fanout
      ? this.#sharedFeed(this.#fanout, credential, taskId, onStop)
      : this.#poller(credential, taskId, onStop);
    this.#feeds.set(key, feed);
    metrics.activePollers.inc();
    return feed;
  }

  #poller(credential: Credential, taskId: string, onStop: () => void, mayPoll?: () => boolean): TaskPoller {
    const { upstream, intervalMs, maxBackoffMs, failureBudgetMs } = this.#options;
    const epmware = new Epmware(upstream, credential);
    return new TaskPoller({
      // 'background': when the credential's budget is short, interactive queries go first. The signal withdraws
      // a poll still waiting for its slot (or on the wire) when the poller stops.
      fetchStatus: (signal) => epmware.pollTaskStatus(taskId, signal),
      intervalMs,
      maxBackoffMs,
      failureBudgetMs,
      onStop,
      mayPoll,
    });
  }

  #sharedFeed(
    fanout: TaskFanout,
    credential: Credential,
    taskId: string,
    onStop: () => void,
  ): SharedTaskPoller {
    const { redis, intervalMs } = this.#options;
    if (!redis) throw new Error('shared task feed without Redis');
    const lease = new TaskLease(redis, this.#instanceId, credential.fingerprint, taskId, {
      // Renewed every half interval; a dead holder is replaced within 1.5 + 0.5 = 2 intervals.
      leaseTtlMs: Math.ceil(1.5 * intervalMs),
      // Late subscribers (also after the end) get the last status; nothing stays once nobody has renewed it.
      lastTtlMs: Math.max(60_000, 30 * intervalMs),
    });
    return new SharedTaskPoller({
      redis,
      lease,
      fanout,
      intervalMs,
      startPolling: (sink, mayPoll) => {
        const poller = this.#poller(credential, taskId, () => {}, mayPoll);
        poller.add(sink);
        return poller;
      },
      onStop,
      onRole: (from, to) => {
        if (from !== 'starting') this.#roles.set(from, (this.#roles.get(from) ?? 1) - 1);
        if (to !== 'starting') this.#roles.set(to, (this.#roles.get(to) ?? 0) + 1);
      },
    });
  }
}
