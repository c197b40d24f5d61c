/**
 * The per-credential request budget. EPMware counts requests per token per minute (100 standard, 10 uploads,
 * 5 bulk) and answers 429 past that, so the gateway spends each credential's budget itself: a request takes a
 * slot or waits for one in a queue where interactive requests go before background task polls, and a request
 * whose slot would come after its deadline is refused with RATE_LIMITED at once instead of hanging.
 *
 * Why a sliding window and not a refilling token bucket: a bucket of N tokens refilled at N per minute lets 2N
 * requests through in some 60 s span (a full bucket, then a minute of refill), and EPMware counts any 60 s span.
 * Remembering the last N send times and freeing a slot 60 s after its request was answered never exceeds N in
 * any window, however EPMware aligns its own. A slot is dated by the answer, not the send: EPMware counted the
 * request somewhere in between, so reusing the slot 60 s after the answer is safe whatever the latency.
 *
 * Hand-written: undici has no rate limiter, and a request's budget wait must come before the request exists (it
 * counts against the call's deadline, and a call refused here never reaches undici); the stage that spends it is
 * in budgeted.ts.
 */
import { GatewayError } from '../errors.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { EndpointClass, Priority } from './pipeline.ts';

export type { EndpointClass, Priority } from './pipeline.ts';

export const DOCUMENTED_LIMITS: Readonly<Record<EndpointClass, number>> = {
  standard: 100,
  upload: 10,
  bulk: 5,
};

/**
 * The budget of each class for a standard budget of `perMinute`. Below EPMware's documented 100 the upload and
 * bulk budgets shrink in proportion (never below 1): a lower UPSTREAM_RATE_LIMIT_PER_MIN means the credential's
 * quota is shared with something else, and that share holds for every class. Above 100 they stay at 10 and 5:
 * a bigger standard quota says nothing about the others.
 */
export function budgetLimits(perMinute: number): Record<EndpointClass, number> {
  const share = Math.min(1, perMinute / DOCUMENTED_LIMITS.standard);
  return {
    standard: perMinute,
    upload: Math.max(1, Math.floor(DOCUMENTED_LIMITS.upload * share)),
    bulk: Math.max(1, Math.floor(DOCUMENTED_LIMITS.bulk * share)),
  };
}

export interface BudgetClaim {
  /** `Credential.fingerprint`: budgets are per credential, never per raw token. */
  credentialKey: string;
  endpointClass: EndpointClass;
  priority: Priority;
  /** Epoch ms by which the request must have been sent. */
  deadline: number;
  /** The endpoint label, for the error message. */
  endpoint: string;
  /** The caller gave up: leave the queue. */
  signal?: AbortSignal;
}

/** A taken slot. `settle` dates it by the answer; `cancel` gives it back when the request was never sent. */
export interface Permit {
  settle(): void;
  cancel(): void;
}

/**
 * One kind of state, two implementations: `RequestBudget` (in-process, one instance) and `SharedBudget`
 * (src/redis/shared-budget.ts: one window per credential for every instance on the same Redis).
 */
export interface Budget {
  /** Per-credential entries held in memory (windows, local queues): bounded, for the flood tests. */
  readonly size: number;
  acquire(claim: BudgetClaim): Promise<Permit>;
  /** EPMware answered 429 with Retry-After: hold that credential's class until `until` (epoch ms). */
  pause(credentialKey: string, endpointClass: EndpointClass, until: number): void;
  close(): void;
}

/**
 * A slot granted this close to the deadline could not be used: the request still has to be sent and answered.
 * The budget refuses such a claim at once (RATE_LIMITED) instead of waiting and then timing out.
 */
export const DEADLINE_MARGIN_MS = 100;

/** Most credential windows kept in memory (each credential has up to three: one per endpoint class). */
export const DEFAULT_MAX_WINDOWS = 10_000;

interface Slot {
  at: number;
  inFlight: boolean;
}

interface Waiter {
  priority: Priority;
  deadline: number;
  endpoint: string;
  grant(permit: Permit): void;
  refuse(error: unknown): void;
}

class SlidingWindow {
  readonly slots: Slot[] = [];
  readonly queue: Waiter[] = [];
  heldUntil = 0;
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly key: string,
    readonly credentialKey: string,
    readonly endpointClass: EndpointClass,
    readonly limit: number,
  ) {}
}

export interface BudgetOptions {
  perMinute: number;
  /** Each class's limit, when it is not derived from `perMinute` (an instance's reserve, see SharedBudget). */
  limits?: Record<EndpointClass, number>;
  /** Epoch ms before which nothing is granted: a new instance's reserve may have been spent by its predecessor. */
  opensAt?: number;
  /** 60 s in production (EPMware counts per minute); tests shorten it so slots come back quickly. */
  windowMs?: number;
  /** Most windows kept; the least recently used idle one goes first. Default DEFAULT_MAX_WINDOWS. */
  maxWindows?: number;
  metrics: GatewayMetrics;
}

/** How many of the least recently used windows a new credential looks at for an idle one to evict. */
const EVICTION_PROBES = 8;

export class RequestBudget implements Budget {
  readonly #limits: Record<EndpointClass, number>;
  readonly #windowMs: number;
  readonly #maxWindows: number;
  readonly #metrics: GatewayMetrics;
  readonly #opensAt: number;
  /** Map order is recency order: each use re-inserts its window, so the least recently used come first. */
  readonly #windows = new Map<string, SlidingWindow>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: BudgetOptions) {
    this.#limits = options.limits ?? budgetLimits(options.perMinute);
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxWindows = options.maxWindows ?? DEFAULT_MAX_WINDOWS;
    this.#metrics = options.metrics;
    this.#opensAt = options.opensAt ?? 0;
    // Windows of credentials seen once empty themselves a window later: one pass per window, off the request
    // path, instead of a sweep on each new credential (which made 50,000 tokens cost O(n) each).
    this.#sweeper = setInterval(() => this.#sweep(), this.#windowMs);
    this.#sweeper.unref();
  }

  /** Windows held in memory (for the flood tests and the tokens benchmark). */
  get size(): number {
    return this.#windows.size;
  }

  /**
   * A slot for one upstream request, or RATE_LIMITED. Uploads and bulk operations also take a standard slot:
   * the docs do not say whether EPMware counts them in both, and one request too careful costs less than a 429.
   */
  async acquire(claim: BudgetClaim): Promise<Permit> {
    if (claim.endpointClass === 'standard') return this.#acquireIn(this.#window(claim, 'standard'), claim);
    const special = await this.#acquireIn(this.#window(claim, claim.endpointClass), claim);
    try {
      const standard = await this.#acquireIn(this.#window(claim, 'standard'), claim);
      return {
        settle: () => {
          special.settle();
          standard.settle();
        },
        cancel: () => {
          special.cancel();
          standard.cancel();
        },
      };
    } catch (error) {
      special.cancel();
      throw error;
    }
  }

  /**
   * A slot in each of `classes` if every one is free now and nobody queues for it, else undefined: the shared
   * budget's reserve is tried this way when the pool has no slot, without waiting in two queues at once.
   */
  tryTake(credentialKey: string, classes: readonly EndpointClass[]): Permit | undefined {
    const now = Date.now();
    const windows = classes.map((c) => this.#window({ credentialKey }, c));
    for (const window of windows) {
      this.#prune(window, now);
      if (window.queue.length > 0 || !this.#freeNow(window, now)) return undefined;
    }
    const permits = windows.map((window) => this.#take(window, now));
    return {
      settle: () => {
        for (const permit of permits) permit.settle();
      },
      cancel: () => {
        for (const permit of permits) permit.cancel();
      },
    };
  }

  /** Epoch ms when `tryTake` could next succeed for these classes (assuming in-flight requests answer now). */
  freeAt(credentialKey: string, classes: readonly EndpointClass[]): number {
    const now = Date.now();
    let at = now;
    for (const c of classes) {
      const window = this.#window({ credentialKey }, c);
      this.#prune(window, now);
      at = Math.max(at, this.#upcomingSlots(window, now)(window.queue.length));
    }
    return at;
  }

  /**
   * EPMware said 429 anyway (another client shares the token, or its window is aligned differently): send
   * nothing more of that class for this credential until `until`, its Retry-After.
   */
  pause(credentialKey: string, endpointClass: EndpointClass, until: number): void {
    const window = this.#window({ credentialKey }, endpointClass);
    window.heldUntil = Math.max(window.heldUntil, until);
    this.#pump(window);
  }

  /** Refuses every waiter and stops the timers. */
  close(): void {
    clearInterval(this.#sweeper);
    for (const window of this.#windows.values()) {
      clearTimeout(window.timer);
      for (const waiter of window.queue.splice(0)) {
        waiter.refuse(new GatewayError('UPSTREAM_UNAVAILABLE', 'The gateway is shutting down'));
      }
    }
    this.#windows.clear();
  }

  #window(claim: Pick<BudgetClaim, 'credentialKey'>, endpointClass: EndpointClass): SlidingWindow {
    const key = `${claim.credentialKey}:${endpointClass}`;
    let window = this.#windows.get(key);
    if (window) {
      this.#windows.delete(key);
    } else {
      if (this.#windows.size >= this.#maxWindows) this.#evictOne();
      window = new SlidingWindow(key, claim.credentialKey, endpointClass, this.#limits[endpointClass]);
      window.heldUntil = this.#opensAt;
    }
    this.#windows.set(key, window);
    return window;
  }

  /**
   * Makes room for a new credential in O(1): drops the least recently used window nobody waits on. Its recent
   * slots are forgotten, so that credential could exceed its budget if it came back within the minute after
   * DEFAULT_MAX_WINDOWS other windows were used; EPMware would answer 429, which pauses it (see `pause`).
   * Windows with waiters are never dropped (their timers point at them); when the few oldest all have waiters
   * the map grows past its maximum by at most the number of queued requests, which deadlines bound.
   */
  #evictOne(): void {
    let probes = 0;
    for (const window of this.#windows.values()) {
      if (probes++ >= EVICTION_PROBES) return;
      if (window.queue.length === 0) {
        this.#windows.delete(window.key);
        return;
      }
    }
  }

  /** Forgets credentials whose window has emptied, so tokens seen once do not accumulate. */
  #sweep(): void {
    const now = Date.now();
    for (const window of this.#windows.values()) {
      this.#prune(window, now);
      if (window.queue.length === 0 && window.slots.length === 0 && window.heldUntil <= now) {
        this.#windows.delete(window.key);
      }
    }
  }

  #acquireIn(window: SlidingWindow, claim: BudgetClaim): Promise<Permit> {
    const now = Date.now();
    this.#prune(window, now);
    if (window.queue.length === 0 && this.#freeNow(window, now))
      return Promise.resolve(this.#take(window, now));
    return new Promise<Permit>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => leave(claim.signal?.reason);
      const cleanup = () => {
        clearTimeout(timer);
        claim.signal?.removeEventListener('abort', onAbort);
        this.#metrics.budgetQueueLength.dec({ priority: claim.priority });
      };
      const waiter: Waiter = {
        priority: claim.priority,
        deadline: claim.deadline,
        endpoint: claim.endpoint,
        grant: (permit) => {
          cleanup();
          resolve(permit);
        },
        refuse: (error) => {
          cleanup();
          reject(error);
        },
      };
      const leave = (error: unknown) => {
        const index = window.queue.indexOf(waiter);
        if (index < 0) return;
        window.queue.splice(index, 1);
        waiter.refuse(error);
        this.#pump(window);
      };
      if (claim.signal?.aborted) return reject(claim.signal.reason);
      claim.signal?.addEventListener('abort', onAbort, { once: true });
      // Estimates assume in-flight requests answer now; a slow answer can push a slot past the deadline, so
      // each waiter also leaves by itself when its deadline comes.
      timer = setTimeout(
        () => leave(this.#refusal(window, waiter)),
        Math.max(0, claim.deadline - DEADLINE_MARGIN_MS - now),
      );
      this.#metrics.budgetQueueLength.inc({ priority: claim.priority });
      // Interactive requests go before every queued background one; FIFO within a priority.
      const behind =
        claim.priority === 'interactive' ? window.queue.findIndex((w) => w.priority === 'background') : -1;
      window.queue.splice(behind < 0 ? window.queue.length : behind, 0, waiter);
      this.#pump(window);
    });
  }

  /** Grants what is free now, refuses whoever can no longer be served in time, and waits for the next slot. */
  #pump(window: SlidingWindow): void {
    const now = Date.now();
    this.#prune(window, now);
    while (window.queue.length > 0 && this.#freeNow(window, now)) {
      window.queue.shift()?.grant(this.#take(window, now));
    }
    const slotAt = this.#upcomingSlots(window, now);
    let position = 0;
    for (const waiter of [...window.queue]) {
      if (slotAt(position) <= waiter.deadline - DEADLINE_MARGIN_MS) {
        position++;
        continue;
      }
      window.queue.splice(window.queue.indexOf(waiter), 1);
      waiter.refuse(this.#refusal(window, waiter));
    }
    clearTimeout(window.timer);
    window.timer = undefined;
    if (window.queue.length > 0) {
      window.timer = setTimeout(() => this.#pump(window), Math.max(1, slotAt(0) - now));
    } else if (window.slots.length === 0 && window.heldUntil <= now) {
      this.#windows.delete(window.key);
    }
  }

  /**
   * When the k-th next request could be sent: a free slot now (unless held), else 60 s after the request N
   * sends earlier in the sequence of past and future sends.
   */
  #upcomingSlots(window: SlidingWindow, now: number): (k: number) => number {
    // A class with no slot at all (an instance's reserve too small to hold one) is never free.
    if (window.limit <= 0) return () => Number.POSITIVE_INFINITY;
    const occupied = window.slots.map((slot) => (slot.inFlight ? Math.max(now, slot.at) : slot.at));
    occupied.sort((a, b) => a - b);
    const future: number[] = [];
    const earliest = Math.max(now, window.heldUntil);
    return (k) => {
      while (future.length <= k) {
        const index = occupied.length + future.length - window.limit;
        const previous =
          index < 0 ? undefined : index < occupied.length ? occupied[index] : future[index - occupied.length];
        future.push(previous === undefined ? earliest : Math.max(earliest, previous + this.#windowMs));
      }
      return future[k] ?? earliest;
    };
  }

  #freeNow(window: SlidingWindow, now: number): boolean {
    return window.slots.length < window.limit && now >= window.heldUntil;
  }

  #prune(window: SlidingWindow, now: number): void {
    for (let i = window.slots.length - 1; i >= 0; i--) {
      const slot = window.slots[i];
      if (slot && !slot.inFlight && slot.at + this.#windowMs <= now) window.slots.splice(i, 1);
    }
  }

  #take(window: SlidingWindow, now: number): Permit {
    const slot: Slot = { at: now, inFlight: true };
    window.slots.push(slot);
    let done = false;
    return {
      settle: () => {
        if (done) return;
        done = true;
        slot.at = Date.now();
        slot.inFlight = false;
        if (window.queue.length > 0) this.#pump(window);
      },
      cancel: () => {
        if (done) return;
        done = true;
        const index = window.slots.indexOf(slot);
        if (index >= 0) window.slots.splice(index, 1);
        this.#pump(window);
      },
    };
  }

  #refusal(window: SlidingWindow, waiter: Waiter): GatewayError {
    this.#metrics.budgetRejections.inc({ class: window.endpointClass });
    return new GatewayError(
      'RATE_LIMITED',
      `The EPMware request budget for this token (${window.limit} ${window.endpointClass} requests a minute) ` +
        `cannot serve ${waiter.endpoint} within UPSTREAM_TIMEOUT_MS; try again shortly`,
    );
  }
}
