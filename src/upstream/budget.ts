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
 * Hand-written: undici has no rate limiter, and the budget must key on the credential and know priorities and
 * deadlines, which a dispatcher-level interceptor does not see.
 */
import { GatewayError } from '../errors.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';

/** EPMware's documented rate-limit classes (100/min standard, 10/min uploads, 5/min bulk). */
export type EndpointClass = 'standard' | 'upload' | 'bulk';
/** Interactive requests are served before background task polls when the budget is short. */
export type Priority = 'interactive' | 'background';

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
    readonly endpointClass: EndpointClass,
    readonly limit: number,
  ) {}
}

export interface BudgetOptions {
  perMinute: number;
  /** 60 s in production (EPMware counts per minute); tests shorten it so slots come back quickly. */
  windowMs?: number;
  metrics: GatewayMetrics;
}

const SWEEP_ABOVE = 256;

export class RequestBudget {
  readonly #limits: Record<EndpointClass, number>;
  readonly #windowMs: number;
  readonly #metrics: GatewayMetrics;
  readonly #windows = new Map<string, SlidingWindow>();

  constructor(options: BudgetOptions) {
    this.#limits = budgetLimits(options.perMinute);
    this.#windowMs = options.windowMs ?? 60_000;
    this.#metrics = options.metrics;
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
    if (!window) {
      if (this.#windows.size >= SWEEP_ABOVE) this.#sweep();
      window = new SlidingWindow(key, endpointClass, this.#limits[endpointClass]);
      this.#windows.set(key, window);
    }
    return window;
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
      timer = setTimeout(() => leave(this.#refusal(window, waiter)), Math.max(0, claim.deadline - now));
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
      if (slotAt(position) <= waiter.deadline) {
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
