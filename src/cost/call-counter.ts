/**
 * The runtime half of demand control: every upstream call one GraphQL operation asks for is counted, and once it
 * has had MAX_UPSTREAM_CALLS_PER_OPERATION the next are refused without reaching EPMware. The estimate
 * (estimate.ts) refuses documents before execution; this catches whatever the estimate did not foresee.
 *
 * A call counts when the operation asks for it, whether the cache, an identical read in flight or EPMware answers
 * it: the count depends on the document alone, never on what other requests happened to warm up.
 */
import { GatewayError } from '../errors.ts';
import type { CallCounter } from '../upstream/pipeline.ts';

export class UpstreamCallCounter implements CallCounter {
  #made = 0;

  constructor(readonly limit: number) {}

  /** Calls made so far (in this operation, or in this subscription event). */
  get made(): number {
    return this.#made;
  }

  /** Counts one call, or throws when the operation has had its limit. */
  take(endpoint: string): void {
    if (this.#made >= this.limit) {
      throw new GatewayError(
        'GRAPHQL_VALIDATION_FAILED',
        `This operation has made its ${this.limit} upstream calls (MAX_UPSTREAM_CALLS_PER_OPERATION); ` +
          `the call to ${endpoint} was refused. Ask for fewer names, ids or aliases, or split the operation.`,
      );
    }
    this.#made += 1;
  }

  /** A subscription's next event starts afresh: each event is one execution of the selection set. */
  reset(): void {
    this.#made = 0;
  }
}
