/**
 * One watched task on one instance when several instances share Redis: EPMware is polled by exactly one of them,
 * the holder of the task's lease, and every instance relays what the holder publishes to its own subscribers.
 *
 * Every half interval each instance runs one lease tick (task-lease.ts): the holder renews, the others try
 * SET NX PX and catch up on the last status. A lease lives 1.5 intervals, so when the holder dies another instance
 * takes it within two intervals, and its first poll goes out at once. When Redis cannot be reached the instance
 * polls for itself ("solo", as without Redis); at the first tick that works again it either holds the lease or
 * stops polling and follows, so there is one poller again.
 */
import { GatewayError, UpstreamError } from '../errors.ts';
import type { RedisConnection } from '../redis/connection.ts';
import type { EpmTaskStatus } from '../upstream/types.ts';
import type { TaskFanout } from './task-fanout.ts';
import type { EndError, TaskEvent, TaskLease } from './task-lease.ts';
import type { TaskFeed, TaskPoller } from './task-poller.ts';
import { isFinal, type TaskSubscriber, TaskSubscribers } from './task-subscribers.ts';

/** leader: holds the lease and polls; follower: relays the holder; solo: Redis is away, polls for itself. */
export type PollerRole = 'starting' | 'leader' | 'follower' | 'solo';

export interface SharedTaskPollerOptions {
  redis: RedisConnection;
  lease: TaskLease;
  fanout: TaskFanout;
  /**
   * Starts the upstream poller this instance runs while it leads (or is solo), delivering to `sink`; it asks
   * `mayPoll` before each poll.
   */
  startPolling: (sink: TaskSubscriber, mayPoll: () => boolean) => TaskPoller;
  intervalMs: number;
  /** Called once, when this instance stops watching the task. */
  onStop: () => void;
  onRole?: (from: PollerRole, to: PollerRole) => void;
}

export class SharedTaskPoller implements TaskFeed {
  readonly #options: SharedTaskPollerOptions;
  readonly #subscribers = new TaskSubscribers();
  /** The version, in Redis' `last` hash, of the latest task delivered here (0: unknown, e.g. polled solo). */
  #version = 0;
  #role: PollerRole = 'starting';
  /**
   * Until when this instance surely holds the lease: the start of its last successful renewal plus the lease's
   * TTL. Redis cannot expire the lease before then, so no other instance can hold it while this one polls.
   */
  #leaseValidUntil = 0;
  /** When the last lease tick that Redis answered was sent. */
  #lastTickAt = 0;
  #poller: TaskPoller | undefined;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #stopped = false;
  /** A tick is out (one at a time); `#tickAgain`: someone asked for another meanwhile. */
  #ticking = false;
  #tickAgain = false;
  /** What the upstream poller delivers to while this instance polls. */
  readonly #sink: TaskSubscriber = {
    next: (task) => this.#polled(task),
    end: (error) => this.#pollerEnded(error),
  };

  constructor(options: SharedTaskPollerOptions) {
    this.#options = options;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  get role(): PollerRole {
    return this.#role;
  }

  /** Whether this instance holds the task's lease and may poll on it right now (never two instances at once). */
  get leading(): boolean {
    return this.#role === 'leader' && Date.now() < this.#leaseValidUntil;
  }

  /** Whether this instance may poll EPMware for the task right now. */
  get polling(): boolean {
    return this.#role === 'solo' || this.leading;
  }

  add(subscriber: TaskSubscriber): void {
    if (this.#stopped) throw new Error('SharedTaskPoller.add after stop');
    this.#subscribers.add(subscriber);
    if (this.#started) return;
    this.#started = true;
    this.#options.fanout.join(this.#options.lease.channel, (event) => this.#onEvent(event));
    void this.#tick();
  }

  remove(subscriber: TaskSubscriber): void {
    if (this.#subscribers.remove(subscriber)) this.#stop();
  }

  close(): void {
    this.#subscribers.endAll();
    this.#stop();
  }

  /** Redis came back or went away: decide now instead of at the next tick. */
  retick(): void {
    if (this.#stopped || !this.#started) return;
    clearTimeout(this.#timer);
    void this.#tick();
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    if (this.#stopped) return;
    if (this.#ticking) {
      this.#tickAgain = true;
      return;
    }
    this.#ticking = true;
    try {
      await this.#tickOnce();
    } finally {
      this.#ticking = false;
    }
    if (this.#tickAgain) {
      this.#tickAgain = false;
      this.retick();
    }
  }

  async #tickOnce(): Promise<void> {
    const { redis, lease } = this.#options;
    let tick: Awaited<ReturnType<TaskLease['tick']>> | undefined;
    const startedAt = Date.now();
    if (redis.isUp()) {
      try {
        tick = await lease.tick(this.#version);
      } catch {
        tick = undefined;
      }
    }
    if (this.#stopped) return;
    if (!tick) {
      // One slow or failed round changes nothing while the last good one still stands (a holder's lease lives
      // that long; a holder stops polling on its own once its renewal is older than the TTL). Past that, or with
      // Redis down, this instance cannot know who polls: it polls for itself.
      if (!redis.isUp() || this.#role === 'starting' || Date.now() - this.#lastTickAt >= lease.ttlMs) {
        this.#becomeSolo();
      }
    } else {
      this.#lastTickAt = startedAt;
      if (tick.task && tick.version > this.#version) {
        this.#version = tick.version;
        this.#deliver(tick.task);
        if (this.#stopped) return;
      }
      if (tick.holder === lease.instanceId) {
        this.#leaseValidUntil = startedAt + lease.ttlMs;
        this.#becomeLeader();
      } else {
        this.#becomeFollower();
      }
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), Math.max(1, Math.floor(this.#options.intervalMs / 2)));
  }

  #becomeLeader(): void {
    this.#setRole('leader');
    this.#poller ??= this.#options.startPolling(this.#sink, this.#mayPoll);
  }

  readonly #mayPoll = (): boolean => this.polling;

  #becomeSolo(): void {
    this.#setRole('solo');
    // Versions restart when Redis comes back empty (a restart): forget ours so its first ones are accepted.
    this.#version = 0;
    this.#poller ??= this.#options.startPolling(this.#sink, this.#mayPoll);
  }

  #becomeFollower(): void {
    this.#setRole('follower');
    const poller = this.#poller;
    this.#poller = undefined;
    // Aborts its poll in flight: the holder's answer will arrive through the channel.
    poller?.remove(this.#sink);
  }

  #setRole(role: PollerRole): void {
    if (this.#role === role) return;
    const from = this.#role;
    this.#role = role;
    this.#options.onRole?.(from, role);
  }

  /** A poll answered (this instance polls): subscribers here at once, everyone else through Redis. */
  #polled(task: EpmTaskStatus): void {
    if (this.#role === 'leader') {
      this.#options.lease.publish(task, isFinal(task)).then(
        (version) => {
          if (version < 0) this.retick();
          else if (version > this.#version) this.#version = version;
        },
        () => {},
      );
    }
    this.#deliver(task);
  }

  /** The upstream poller ended by itself: with an error (then every watch ends with it), or after a final task. */
  #pollerEnded(error: Error | undefined): void {
    this.#poller = undefined;
    if (this.#stopped) return;
    if (this.#role === 'leader') {
      const event: TaskEvent = error ? { kind: 'end', error: endErrorOf(error) } : { kind: 'released' };
      this.#options.lease.release(event).catch(() => {});
      this.#setRole('starting');
    }
    this.#subscribers.endAll(error);
    this.#stop();
  }

  #onEvent(event: TaskEvent): void {
    if (this.#stopped) return;
    switch (event.kind) {
      case 'status':
        if (event.version <= this.#version) return;
        this.#version = event.version;
        this.#deliver(event.task);
        return;
      case 'released':
        if (this.#role !== 'leader') this.retick();
        return;
      case 'end':
        if (this.#role === 'leader') return;
        this.#subscribers.endAll(errorFromEnd(event.error));
        this.#stop();
        return;
    }
  }

  #deliver(task: EpmTaskStatus): void {
    if (!this.#subscribers.deliver(task)) return;
    if (isFinal(task)) {
      this.#subscribers.endAll();
      this.#stop();
    }
  }

  #stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const { fanout, lease } = this.#options;
    if (this.#started) fanout.leave(lease.channel);
    const poller = this.#poller;
    this.#poller = undefined;
    poller?.remove(this.#sink);
    // Let go at once so an instance that still has subscribers takes over now, not when the lease expires.
    if (this.#role === 'leader') lease.release({ kind: 'released' }).catch(() => {});
    this.#setRole('starting');
    this.#options.onStop();
  }
}

function endErrorOf(error: Error): EndError {
  if (!(error instanceof GatewayError)) return { message: 'Unexpected error.' };
  const upstream = error instanceof UpstreamError ? error : undefined;
  return {
    code: error.code,
    message: error.message,
    ...(upstream?.upstreamStatus !== undefined ? { upstreamStatus: upstream.upstreamStatus } : {}),
    ...(upstream ? { endpoint: upstream.endpoint } : {}),
  };
}

function errorFromEnd(error: EndError): Error {
  if (!error.code) return new Error(error.message);
  if (error.endpoint !== undefined) {
    return new UpstreamError(error.code, error.message, {
      endpoint: error.endpoint,
      upstreamStatus: error.upstreamStatus,
    });
  }
  return new GatewayError(error.code, error.message);
}
