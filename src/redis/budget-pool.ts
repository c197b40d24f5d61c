/**
 * The pool of the shared budget, as Redis keeps it (budget-split.ts says what the pool is): one question per claim
 * (TAKE_SLOT), the slot's settle and cancel, the Retry-After hold and the epoch that tells a Redis which lost the
 * pool's window. Everything here is a round trip to Redis; the queueing around it is SharedBudget's.
 */
import type { Logger } from '../observability/logger.ts';
import type { EndpointClass, Permit, Priority } from '../upstream/budget.ts';
import { CHECK_EPOCH, HOLD, SETTLE_SLOT, TAKE_SLOT } from './budget-scripts.ts';
import type { RedisConnection } from './connection.ts';
import type { SharedStateMetrics } from './state-metrics.ts';

/** A slot (of the pool, or the offered reserve slot recorded in Redis's total), or how long until each could come. */
export type PoolAnswer =
  | { ok: true; permit: Permit }
  | { ok: false; poolWaitMs: number; totalWaitMs: number };

/** TAKE_SLOT's reply: source (0 none, 1 pool, 2 reserve), now or the pool's wait, Redis's epoch, whether this
 * call closed the pool, the total's wait. */
type TakeReply = [number, number, string, number, number];

const FROM_POOL = 1;
const FROM_RESERVE = 2;

/** Both parts of a reserve slot taken while Redis is up: the reserve's own and its line in Redis's total. */
function both(first: Permit, second: Permit): Permit {
  return {
    settle: () => {
      first.settle();
      second.settle();
    },
    cancel: () => {
      first.cancel();
      second.cancel();
    },
  };
}

export interface SharedPoolOptions {
  redis: RedisConnection;
  /** Each class's limit for all instances together, and the pool's part of it. */
  limits: Record<EndpointClass, number>;
  pool: Record<EndpointClass, number>;
  windowMs: number;
  stateMetrics: SharedStateMetrics;
  logger: Logger;
}

/**
 * The most of the pool and of the total a background claim (a task poll) may fill. Each instance puts its own
 * interactive waiters first, but Redis serves whichever instance asks: without a ceiling, one instance's polls
 * could take every slot of the minute while another instance's users wait. A quarter stays for interactive work.
 */
const BACKGROUND_SHARE = 0.75;

function ceiling(limit: number, priority: Priority): number {
  return priority === 'background' ? Math.max(1, Math.floor(limit * BACKGROUND_SHARE)) : limit;
}

let slotSequence = 0;

export class SharedPool {
  readonly #redis: RedisConnection;
  readonly #limits: Record<EndpointClass, number>;
  readonly #pool: Record<EndpointClass, number>;
  readonly #windowMs: number;
  readonly #stateMetrics: SharedStateMetrics;
  readonly #logger: Logger;
  readonly #instanceId = Math.random().toString(36).slice(2, 10);
  /** The Redis epoch this instance last saw ('' before its first answer). */
  #epoch = '';

  constructor(options: SharedPoolOptions) {
    this.#redis = options.redis;
    this.#limits = options.limits;
    this.#pool = options.pool;
    this.#windowMs = options.windowMs;
    this.#stateMetrics = options.stateMetrics;
    this.#logger = options.logger;
  }

  /** Whether a class can be served through Redis at all (a limit too small to split leaves the pool empty). */
  serves(classes: readonly EndpointClass[]): boolean {
    return classes.every((c) => this.#pool[c] > 0);
  }

  /**
   * One question to Redis: a pool slot, or else the reserve's slot this instance offers (taken by the caller
   * first; given back here unless Redis's total has room for it). Throws when Redis fails or times out.
   */
  async take(
    credentialKey: string,
    classes: readonly EndpointClass[],
    priority: Priority,
    offered?: Permit,
  ): Promise<PoolAnswer> {
    const pools = classes.map((c) => this.#redis.key('budget', credentialKey, c));
    const totals = classes.map((c) => this.#redis.key('budget-total', credentialKey, c));
    const keys = [
      this.#redis.key('budget-epoch'),
      this.#redis.key('budget-pool-hold'),
      ...classes.flatMap((c, i) => [
        pools[i] ?? '',
        totals[i] ?? '',
        this.#redis.key('budget-hold', credentialKey, c),
      ]),
    ];
    const member = `${this.#instanceId}:${++slotSequence}`;
    let reply: TakeReply;
    try {
      reply = (await this.#redis.commands.eval(
        TAKE_SLOT,
        keys.length,
        ...keys,
        String(this.#windowMs),
        member,
        this.#epoch,
        this.#newEpoch(),
        offered ? '1' : '0',
        ...classes.flatMap((c) => [
          String(ceiling(this.#pool[c], priority)),
          String(ceiling(this.#limits[c], priority)),
        ]),
      )) as TakeReply;
    } catch (error) {
      offered?.cancel();
      throw error;
    }
    const [source, poolWaitMs, epoch, closed, totalWaitMs] = reply;
    this.#learnEpoch(epoch, closed);
    if (source === FROM_POOL) {
      offered?.cancel();
      return { ok: true, permit: this.#permit([...pools, ...totals], member) };
    }
    if (source === FROM_RESERVE && offered)
      return { ok: true, permit: both(offered, this.#permit(totals, member)) };
    offered?.cancel();
    return { ok: false, poolWaitMs, totalWaitMs };
  }

  /** EPMware's Retry-After: holds the credential's class on every instance (never shortens a hold). */
  hold(credentialKey: string, endpointClass: EndpointClass, ms: number): void {
    const hold = this.#redis.key('budget-hold', credentialKey, endpointClass);
    this.#redis.commands.eval(HOLD, 1, hold, String(ms)).catch(() => this.#stateMetrics.fellBack('budget'));
  }

  /** Redis is back: if it lost the budget's window, close the pool now rather than at this instance's next claim. */
  async checkEpoch(): Promise<void> {
    try {
      const keys = [this.#redis.key('budget-epoch'), this.#redis.key('budget-pool-hold')];
      const [epoch, closed] = (await this.#redis.commands.eval(
        CHECK_EPOCH,
        keys.length,
        ...keys,
        String(this.#windowMs),
        '',
        this.#epoch,
        this.#newEpoch(),
      )) as [string, number];
      this.#learnEpoch(epoch, closed);
    } catch {
      this.#stateMetrics.fellBack('budget');
    }
  }

  #newEpoch(): string {
    return `${this.#instanceId}:${Date.now()}`;
  }

  #learnEpoch(epoch: string, closed: number): void {
    if (closed === 1) {
      this.#logger.warn(
        `redis came back without the budget's window: the shared pool stays closed for ${this.#windowMs} ms, ` +
          'every instance spends only its own reserve meanwhile',
      );
    }
    this.#epoch = epoch;
  }

  /** A slot granted by Redis in these windows (the pool's and the total's, or the total's alone). */
  #permit(windows: string[], member: string): Permit {
    let done = false;
    const redis = this.#redis;
    const commands = redis.commands;
    return {
      settle: () => {
        if (done) return;
        done = true;
        // Nothing is sent to a Redis that is down: the slot stays dated by its send (or Redis lost it anyway).
        if (!redis.isUp()) return;
        // Not awaited: the answer is already here. If it fails the slot stays dated by its send, a few ms early.
        commands
          .eval(SETTLE_SLOT, windows.length, ...windows, member)
          .catch(() => this.#stateMetrics.fellBack('budget'));
      },
      cancel: () => {
        if (done) return;
        done = true;
        // While Redis is down the slot stays taken there until its window passes: on the safe side.
        if (!redis.isUp()) return;
        const pipeline = commands.pipeline();
        for (const window of windows) pipeline.zrem(window, member);
        pipeline.exec().catch(() => this.#stateMetrics.fellBack('budget'));
      },
    };
  }
}
