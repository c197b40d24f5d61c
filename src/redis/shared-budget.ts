/**
 * The per-credential budget shared by every instance on the same Redis. UPSTREAM_RATE_LIMIT_PER_MIN is the total
 * for all instances together, split into a pool counted in Redis and a private reserve per instance counted in
 * its memory (budget-split.ts says why that never exceeds the total through restarts and outages).
 *
 * The pool is one sliding window per credential fingerprint and endpoint class (a ZSET of send times), taken
 * atomically by a Lua script that also says how long until the next slot when there is none (budget-pool.ts,
 * budget-scripts.ts). This instance's own
 * waiters stay in a local queue per credential, interactive before background and FIFO within a priority; only
 * the head asks Redis. With no pool slot the head takes one from the reserve if it has one now, else waits for
 * whichever comes first (bounded by its deadline); a claim that cannot be served before its deadline (minus
 * DEADLINE_MARGIN_MS) is refused at once.
 *
 * While Redis is unreachable (or a script fails or times out), claims go to the reserve alone.
 *
 * Hand-written rather than rate-limiter-flexible: its limiters count points per key, but this budget must date a
 * slot by the answer (settle), give it back when the request was never sent (cancel), take a standard slot and an
 * upload/bulk slot atomically, and honour a Retry-After hold; each of those is a line of Lua in budget-scripts.ts.
 */
import { GatewayError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
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
import { SharedPool } from './budget-pool.ts';
import { splitBudget } from './budget-split.ts';
import type { RedisConnection } from './connection.ts';
import type { SharedStateMetrics } from './state-metrics.ts';

export interface SharedBudgetOptions {
  redis: RedisConnection;
  /** UPSTREAM_RATE_LIMIT_PER_MIN: the total of all instances. */
  perMinute: number;
  /** GATEWAY_INSTANCES: how many reserves the budget holds (budget-split.ts). */
  instances: number;
  windowMs?: number;
  maxWindows?: number;
  /** Epoch ms when this instance's reserve opens: by default one window after it starts, since the instance it
   * replaces may have spent that reserve within EPMware's current minute. */
  reserveOpensAt?: number;
  metrics: GatewayMetrics;
  stateMetrics: SharedStateMetrics;
  logger: Logger;
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

/** A slot, or how long until one could come. */
type Taken = { ok: true; permit: Permit } | { ok: false; waitMs: number };

export class SharedBudget implements Budget {
  readonly #redis: RedisConnection;
  readonly #limits: Record<EndpointClass, number>;
  /** The pool, counted in Redis. */
  readonly #pool: SharedPool;
  readonly #windowMs: number;
  readonly #metrics: GatewayMetrics;
  readonly #stateMetrics: SharedStateMetrics;
  /** This instance's reserve, counted here: spent when the pool has no slot, and alone while Redis is away. */
  readonly #reserve: RequestBudget;
  readonly #queues = new Map<string, LocalQueue>();
  readonly #stopWatching: () => void;
  #closed = false;

  constructor(options: SharedBudgetOptions) {
    this.#redis = options.redis;
    this.#limits = budgetLimits(options.perMinute);
    this.#windowMs = options.windowMs ?? 60_000;
    this.#metrics = options.metrics;
    this.#stateMetrics = options.stateMetrics;
    const split = splitBudget(this.#limits, options.instances);
    this.#pool = new SharedPool({
      redis: options.redis,
      limits: this.#limits,
      pool: split.pool,
      windowMs: this.#windowMs,
      stateMetrics: options.stateMetrics,
      logger: options.logger,
    });
    this.#reserve = new RequestBudget({
      perMinute: options.perMinute,
      limits: split.reserve,
      opensAt: options.reserveOpensAt ?? Date.now() + this.#windowMs,
      windowMs: options.windowMs,
      maxWindows: options.maxWindows,
      metrics: options.metrics,
    });
    this.#stopWatching = this.#redis.onStateChange((up) => {
      if (up) void this.#pool.checkEpoch();
      // Waiters sleeping on a slot Redis promised move to the reserve now, not when they wake.
      else for (const queue of this.#queues.values()) void this.#pump(queue);
    });
  }

  /** The reserve's windows plus this instance's queues (Redis holds the pool's windows). */
  get size(): number {
    return this.#reserve.size + this.#queues.size;
  }

  async acquire(claim: BudgetClaim): Promise<Permit> {
    if (!this.#redis.isUp()) return this.#acquireLocally(claim);
    // A class whose pool is empty (a limit too small to split) is served by the reserve alone.
    if (!this.#pool.serves(this.#classes(claim))) return this.#reserve.acquire(claim);
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
      if (taken.ok) return taken.permit;
      if (this.#tooLate(claim, taken.waitMs)) throw this.#refusal(claim);
    }
    return this.#enqueue(queueKey, claim);
  }

  pause(credentialKey: string, endpointClass: EndpointClass, until: number): void {
    this.#reserve.pause(credentialKey, endpointClass, until);
    const ms = until - Date.now();
    if (ms > 0 && this.#redis.isUp()) this.#pool.hold(credentialKey, endpointClass, ms);
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
    this.#reserve.close();
  }

  #acquireLocally(claim: BudgetClaim): Promise<Permit> {
    this.#stateMetrics.fellBack('budget');
    return this.#reserve.acquire(claim);
  }

  /** The classes a claim spends: uploads and bulk operations also take a standard slot (see RequestBudget). */
  #classes(claim: BudgetClaim): EndpointClass[] {
    return claim.endpointClass === 'standard' ? ['standard'] : [claim.endpointClass, 'standard'];
  }

  /** A slot of the pool or, failing that, of the reserve; else how long until the first of them could come. */
  async #take(claim: BudgetClaim): Promise<Taken> {
    const classes = this.#classes(claim);
    const answer = await this.#pool.take(
      claim.credentialKey,
      classes,
      claim.priority,
      this.#reserve.tryTake(claim.credentialKey, classes),
    );
    if (answer.ok) return answer;
    const reserveAt = this.#reserve.freeAt(claim.credentialKey, classes);
    const reserveWaitMs = Math.max(answer.totalWaitMs, reserveAt - Date.now());
    return { ok: false, waitMs: Math.max(0, Math.min(answer.poolWaitMs, reserveWaitMs)) };
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
          if (taken.ok) taken.permit.cancel();
          continue;
        }
        if (taken.ok) {
          queue.waiters.shift();
          this.#leave(head);
          head.resolve(taken.permit);
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
      // Redis went away or timed out: this instance's reserve takes over for everyone queued here.
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
