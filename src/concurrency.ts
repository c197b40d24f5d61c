/**
 * Bounded fan-out. `deployments(names)`, `exports(names)` and a query naming many tasks turn one GraphQL request
 * into many upstream calls; firing all of them at once would drain the credential's budget (EPMware documents
 * 100 requests a minute) in a burst and open dozens of sockets. One limiter per request keeps at most
 * FAN_OUT_LIMIT of its calls in flight, whichever fields they come from; eight keeps a page of names fast while
 * leaving room for other requests on the same credential.
 *
 * Hand-written rather than a dependency (p-limit and friends): the need is the few lines below, and the results
 * must keep each key's own error, as DataLoader batch functions answer an Error per key.
 */

/** How many upstream calls one request's fan-out keeps in flight at most. */
export const FAN_OUT_LIMIT = 8;

/** A counting semaphore: run() waits for a free slot, in arrival order. */
export class Limiter {
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active < this.limit) this.#active++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter (the count stays), or give it back.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}

const limiters = new WeakMap<object, Limiter>();

/** The limiter shared by every fan-out of one request (keyed by its context object). */
export function requestLimiter(request: object): Limiter {
  let limiter = limiters.get(request);
  if (!limiter) {
    limiter = new Limiter(FAN_OUT_LIMIT);
    limiters.set(request, limiter);
  }
  return limiter;
}

/** Maps `items` through `task` under `limiter`, keeping the order; a failure yields its Error in that slot. */
export function mapBounded<T, R>(
  items: readonly T[],
  task: (item: T) => Promise<R>,
  limiter: Limiter,
): Promise<Array<R | Error>> {
  return Promise.all(
    items.map((item) =>
      limiter
        .run(() => task(item))
        .catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))),
    ),
  );
}
