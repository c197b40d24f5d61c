/**
 * The per-credential budget shared by every instance on the same Redis: one sliding window per credential
 * fingerprint and endpoint class (a ZSET of send times), taken atomically by a Lua script that also says how long
 * until the next slot when there is none. UPSTREAM_RATE_LIMIT_PER_MIN is the total for all instances together.
 *
 * This instance's own waiters stay in a local queue per credential, interactive before background and FIFO within
 * a priority; only the head asks Redis. When Redis answers "no slot for T ms", the head waits T (bounded by its
 * deadline) and asks again; a claim whose T falls past its deadline (minus DEADLINE_MARGIN_MS) is refused at once.
 *
 * While Redis is unreachable (or a script fails or times out), claims go to an in-process `RequestBudget` holding
 * this instance's conservative share, UPSTREAM_RATE_LIMIT_PER_MIN / GATEWAY_INSTANCES; when Redis is back the
 * slots spent meanwhile are written into the shared windows, so the minute after rejoining still counts them.
 *
 * Hand-written rather than rate-limiter-flexible: its limiters count points per key, but this budget must date a
 * slot by the answer (settle), give it back when the request was never sent (cancel), take a standard slot and an
 * upload/bulk slot atomically, and honour a Retry-After hold; each of those is a line of Lua here.
 */
import { GatewayError } from '../errors.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import {
  type Budget,
  type BudgetClaim,
  budgetLimits,
  DEADLINE_MARGIN_MS,
  type EndpointClass,
  type Permit,
  type Priority,
  RequestBudget,
} from '../upstream/budget.ts';
import type { RedisConnection } from './connection.ts';
import type { SharedStateMetrics } from './state-metrics.ts';

/**
 * KEYS: per class, its window (ZSET) then its hold (string). ARGV: window ms, the slot's member, the class limits.
 * Returns {1, now} when every class had a slot (all taken), else {0, ms until the latest of their next slots}.
 * Time is Redis's (TIME), so instances with skewed clocks still agree.
 */
const TAKE_SLOT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local windowMs = tonumber(ARGV[1])
local wait = 0
for i = 1, #KEYS / 2 do
  local window = KEYS[2 * i - 1]
  local limit = tonumber(ARGV[2 + i])
  redis.call('ZREMRANGEBYSCORE', window, '-inf', now - windowMs)
  local held = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  if held > now then wait = math.max(wait, held - now) end
  local count = redis.call('ZCARD', window)
  if count >= limit then
    local freed = redis.call('ZRANGE', window, count - limit, count - limit, 'WITHSCORES')
    wait = math.max(wait, tonumber(freed[2]) + windowMs - now)
  end
end
if wait > 0 then return {0, wait} end
for i = 1, #KEYS / 2 do
  redis.call('ZADD', KEYS[2 * i - 1], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[2 * i - 1], windowMs * 2)
end
return {1, now}
`;

/** KEYS: windows. ARGV: the member. Re-dates the slot by the answer (only if it is still there). */
const SETTLE_SLOT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do redis.call('ZADD', KEYS[i], 'XX', now, ARGV[1]) end
return now
`;

/** KEYS: a hold. ARGV: ms from now. Extends the hold, never shortens it. */
const HOLD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilMs = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilMs > current then redis.call('SET', KEYS[1], untilMs, 'PX', tonumber(ARGV[1]) + 1000) end
return 1
`;

/** KEYS: windows. ARGV: window ms, then score/member pairs (slots spent while Redis was away). */
const REPLAY = `
local windowMs = tonumber(ARGV[1])
for i = 1, #KEYS do
  for j = 2, #ARGV, 2 do redis.call('ZADD', KEYS[i], ARGV[j], ARGV[j + 1]) end
  redis.call('PEXPIRE', KEYS[i], windowMs * 2)
end
return 1
`;

export interface SharedBudgetOptions {
  redis: RedisConnection;
  /** UPSTREAM_RATE_LIMIT_PER_MIN: the total of all instances. */
  perMinute: number;
  /** GATEWAY_INSTANCES: while Redis is away this instance spends perMinute / instances. */
  instances: number;
  windowMs?: number;
  maxWindows?: number;
  metrics: GatewayMetrics;
  stateMetrics: SharedStateMetrics;
}

interface Waiter {
  claim: BudgetClaim;
  resolve(permit: Permit): void;
  reject(error: unknown): void;
  /** Leaves the queue (deadline, abort) without a slot. */
  timer: NodeJS.Timeout;
  onAbort: () => void;
}

/** This instance's waiters for one credential and class combination. */
interface LocalQueue {
  key: string;
  waiters: Waiter[];
  asking: boolean;
  timer: NodeJS.Timeout | undefined;
}

type Taken = { ok: true; member: string; windows: string[] } | { ok: false; waitMs: number };

let slotSequence = 0;

export class SharedBudget implements Budget {
  readonly #redis: RedisConnection;
  readonly #limits: Record<EndpointClass, number>;
  readonly #windowMs: number;
  readonly #metrics: GatewayMetrics;
  readonly #stateMetrics: SharedStateMetrics;
  /** This instance's share, used while Redis is unreachable. */
  readonly #fallback: RequestBudget;
  readonly #queues = new Map<string, LocalQueue>();
  readonly #instanceId = Math.random().toString(36).slice(2, 10);
  readonly #stopWatching: () => void;
  #closed = false;

  constructor(options: SharedBudgetOptions) {
    this.#redis = options.redis;
    this.#limits = budgetLimits(options.perMinute);
    this.#windowMs = options.windowMs ?? 60_000;
    this.#metrics = options.metrics;
    this.#stateMetrics = options.stateMetrics;
    this.#fallback = new RequestBudget({
      perMinute: Math.max(1, Math.floor(options.perMinute / options.instances)),
      windowMs: options.windowMs,
      maxWindows: options.maxWindows,
      metrics: options.metrics,
    });
    this.#stopWatching = this.#redis.onStateChange((up) => {
      if (up) void this.#replayFallbackSlots();
      // Waiters sleeping on a slot Redis promised move to this instance's share now, not when they wake.
      else for (const queue of this.#queues.values()) void this.#pump(queue);
    });
  }

  /** The fallback's windows plus this instance's queues (Redis holds the shared windows). */
  get size(): number {
    return this.#fallback.size + this.#queues.size;
  }

  async acquire(claim: BudgetClaim): Promise<Permit> {
    if (!this.#redis.isUp()) return this.#acquireLocally(claim);
    const queueKey = `${claim.credentialKey}:${claim.endpointClass}`;
    const queue = this.#queues.get(queueKey);
    if (!queue) {
      // Nobody of this instance waits for this credential: ask Redis straight away.
      let taken: Taken;
      try {
        taken = await this.#take(claim);
      } catch {
        return this.#acquireLocally(claim);
      }
      if (taken.ok) return this.#permit(claim, taken.windows, taken.member);
      if (this.#tooLate(claim, taken.waitMs)) throw this.#refusal(claim);
    }
    return this.#enqueue(queueKey, claim);
  }

  pause(credentialKey: string, endpointClass: EndpointClass, until: number): void {
    this.#fallback.pause(credentialKey, endpointClass, until);
    const ms = until - Date.now();
    if (ms <= 0 || !this.#redis.isUp()) return;
    const hold = this.#redis.key('budget-hold', credentialKey, endpointClass);
    this.#redis.commands.eval(HOLD, 1, hold, String(ms)).catch(() => this.#stateMetrics.fellBack('budget'));
  }

  close(): void {
    this.#closed = true;
    this.#stopWatching();
    for (const queue of this.#queues.values()) {
      clearTimeout(queue.timer);
      for (const waiter of queue.waiters.splice(0)) {
        this.#leave(waiter);
        waiter.reject(new GatewayError('UPSTREAM_UNAVAILABLE', 'The gateway is shutting down'));
      }
    }
    this.#queues.clear();
    this.#fallback.close();
  }

  #acquireLocally(claim: BudgetClaim): Promise<Permit> {
    this.#stateMetrics.fellBack('budget');
    return this.#fallback.acquire(claim);
  }

  /** The classes a claim spends: uploads and bulk operations also take a standard slot (see RequestBudget). */
  #classes(claim: BudgetClaim): EndpointClass[] {
    return claim.endpointClass === 'standard' ? ['standard'] : [claim.endpointClass, 'standard'];
  }

  async #take(claim: BudgetClaim): Promise<Taken> {
    const classes = this.#classes(claim);
    const windows = classes.map((c) => this.#redis.key('budget', claim.credentialKey, c));
    const keys = classes.flatMap((c, i) => [
      windows[i] ?? '',
      this.#redis.key('budget-hold', claim.credentialKey, c),
    ]);
    const member = `${this.#instanceId}:${++slotSequence}`;
    const reply = (await this.#redis.commands.eval(
      TAKE_SLOT,
      keys.length,
      ...keys,
      String(this.#windowMs),
      member,
      ...classes.map((c) => String(this.#limits[c])),
    )) as [number, number];
    return reply[0] === 1 ? { ok: true, member, windows } : { ok: false, waitMs: reply[1] };
  }

  #tooLate(claim: BudgetClaim, waitMs: number): boolean {
    return Date.now() + waitMs > claim.deadline - DEADLINE_MARGIN_MS;
  }

  #enqueue(queueKey: string, claim: BudgetClaim): Promise<Permit> {
    let queue = this.#queues.get(queueKey);
    if (!queue) {
      queue = { key: queueKey, waiters: [], asking: false, timer: undefined };
      this.#queues.set(queueKey, queue);
    }
    const owner = queue;
    return new Promise<Permit>((resolve, reject) => {
      if (claim.signal?.aborted) return reject(claim.signal.reason);
      const waiter: Waiter = {
        claim,
        resolve,
        reject,
        timer: setTimeout(
          () => this.#drop(owner, waiter, this.#refusal(claim)),
          Math.max(0, claim.deadline - DEADLINE_MARGIN_MS - Date.now()),
        ),
        onAbort: () => this.#drop(owner, waiter, claim.signal?.reason),
      };
      claim.signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#metrics.budgetQueueLength.inc({ priority: claim.priority });
      // Interactive requests go before every queued background one; FIFO within a priority.
      const behind =
        claim.priority === 'interactive'
          ? owner.waiters.findIndex((w) => w.claim.priority === ('background' satisfies Priority))
          : -1;
      owner.waiters.splice(behind < 0 ? owner.waiters.length : behind, 0, waiter);
      if (!owner.timer) void this.#pump(owner);
    });
  }

  /** Asks Redis for the head's slot until the queue is empty or Redis says to wait. One question at a time. */
  async #pump(queue: LocalQueue): Promise<void> {
    if (queue.asking || this.#closed) return;
    queue.asking = true;
    clearTimeout(queue.timer);
    queue.timer = undefined;
    try {
      while (queue.waiters.length > 0) {
        const head = queue.waiters[0];
        if (!head) break;
        if (!this.#redis.isUp()) throw new Error('redis down');
        const taken = await this.#take(head.claim);
        if (queue.waiters[0] !== head) {
          // The head left (deadline, abort) while Redis answered: give its slot back and ask again.
          if (taken.ok) this.#permit(head.claim, taken.windows, taken.member).cancel();
          continue;
        }
        if (taken.ok) {
          queue.waiters.shift();
          this.#leave(head);
          head.resolve(this.#permit(head.claim, taken.windows, taken.member));
          continue;
        }
        // Nobody here can be served before `waitMs`: refuse those whose deadline comes first, wait for the rest.
        for (const waiter of [...queue.waiters]) {
          if (this.#tooLate(waiter.claim, taken.waitMs))
            this.#drop(queue, waiter, this.#refusal(waiter.claim));
        }
        if (queue.waiters.length > 0) {
          queue.timer = setTimeout(() => void this.#pump(queue), Math.max(1, taken.waitMs));
        }
        break;
      }
    } catch {
      // Redis went away or timed out: this instance's share takes over for everyone queued here.
      for (const waiter of queue.waiters.splice(0)) {
        this.#leave(waiter);
        this.#acquireLocally(waiter.claim).then(waiter.resolve, waiter.reject);
      }
    } finally {
      queue.asking = false;
      if (queue.waiters.length === 0) {
        clearTimeout(queue.timer);
        if (this.#queues.get(queue.key) === queue) this.#queues.delete(queue.key);
      }
    }
  }

  /** Removes a waiter (deadline or abort) and rejects it. */
  #drop(queue: LocalQueue, waiter: Waiter, error: unknown): void {
    const index = queue.waiters.indexOf(waiter);
    if (index < 0) return;
    queue.waiters.splice(index, 1);
    this.#leave(waiter);
    waiter.reject(error);
    if (queue.waiters.length === 0 && !queue.asking) {
      clearTimeout(queue.timer);
      if (this.#queues.get(queue.key) === queue) this.#queues.delete(queue.key);
    }
  }

  #leave(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    waiter.claim.signal?.removeEventListener('abort', waiter.onAbort);
    this.#metrics.budgetQueueLength.dec({ priority: waiter.claim.priority });
  }

  /**
   * A slot granted by Redis, mirrored in this instance's fallback budget: if Redis fails (or times out) the
   * fallback takes over knowing what this instance spent this minute, instead of starting from an empty window.
   */
  #permit(claim: BudgetClaim, windows: string[], member: string): Permit {
    let done = false;
    const redis = this.#redis;
    const commands = redis.commands;
    const mirror = this.#fallback.record(claim.credentialKey, this.#classes(claim));
    return {
      settle: () => {
        if (done) return;
        done = true;
        mirror.settle();
        // Nothing is sent to a Redis that is down (the mirror keeps the count): the slot stays dated by its send.
        if (!redis.isUp()) return;
        // Not awaited: the answer is already here. If it fails the slot stays dated by its send, a few ms early.
        commands
          .eval(SETTLE_SLOT, windows.length, ...windows, member)
          .catch(() => this.#stateMetrics.fellBack('budget'));
      },
      cancel: () => {
        if (done) return;
        done = true;
        mirror.cancel();
        // While Redis is down the slot stays taken there until its window passes: on the safe side.
        if (!redis.isUp()) return;
        const pipeline = commands.pipeline();
        for (const window of windows) pipeline.zrem(window, member);
        pipeline.exec().catch(() => this.#stateMetrics.fellBack('budget'));
      },
    };
  }

  /**
   * Redis is back: the requests this instance sent on its own meanwhile still count in EPMware's minute, so they
   * go into the shared windows (dated in Redis's clock by the offset measured now). The fallback also mirrors the
   * slots Redis granted before the outage; if Redis kept its data those count twice for the rest of the minute,
   * which errs on the safe side (and if Redis restarted empty, they are exactly what it lost).
   */
  async #replayFallbackSlots(): Promise<void> {
    const spent = this.#fallback.recentSlots();
    if (spent.length === 0) return;
    try {
      const time = await this.#redis.commands.time();
      const offset = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000) - Date.now();
      const pipeline = this.#redis.commands.pipeline();
      for (const { credentialKey, endpointClass, at } of spent) {
        const pairs = at.flatMap((t, i) => [String(t + offset), `${this.#instanceId}:replay:${t}:${i}`]);
        const window = this.#redis.key('budget', credentialKey, endpointClass);
        pipeline.eval(REPLAY, 1, window, String(this.#windowMs), ...pairs);
      }
      await pipeline.exec();
    } catch {
      this.#stateMetrics.fellBack('budget');
    }
  }

  #refusal(claim: BudgetClaim): GatewayError {
    this.#metrics.budgetRejections.inc({ class: claim.endpointClass });
    const limit = this.#limits[claim.endpointClass];
    return new GatewayError(
      'RATE_LIMITED',
      `The EPMware request budget for this token (${limit} ${claim.endpointClass} requests a minute, shared by ` +
        `every gateway instance) cannot serve ${claim.endpoint} within UPSTREAM_TIMEOUT_MS; try again shortly`,
    );
  }
}
