/**
 * How many tasks this instance watches, in all and per credential (MAX_WATCHED_TASKS and
 * MAX_WATCHED_TASKS_PER_CREDENTIAL). A watched task is one feed (one poller, one budget claim at a time, one
 * Redis lease), however many subscribers share it, so that is what is counted: a second subscriber of a task
 * already watched costs nothing and is never refused here.
 *
 * A feed counts from the moment it is created, before its first poll: until EPMware has answered, a made-up task
 * id costs as much as a real one (a poller and a place in the credential's budget queue, which may be minutes
 * long). What keeps a credential from filling the instance with them is its own quota; what gives the slot back is
 * the feed stopping, which for an unknown task is the 404 of its first poll.
 *
 * Bounded by construction: a credential has an entry only while it holds at least one task, so there are never
 * more entries than the instance's cap; the entry goes with its last task.
 */
import { GatewayError } from '../errors.ts';

export interface WatchQuotaLimits {
  /** Tasks watched at once on this instance. */
  maxTasks: number;
  /** Of those, the most one credential (by fingerprint) may hold. */
  maxPerCredential: number;
}

export class WatchQuota {
  readonly #limits: WatchQuotaLimits;
  readonly #perCredential = new Map<string, number>();
  #total = 0;

  constructor(limits: WatchQuotaLimits) {
    this.#limits = limits;
  }

  /** Tasks held now, in all. */
  get total(): number {
    return this.#total;
  }

  /** Credentials holding at least one task (the bookkeeping's size). */
  get credentials(): number {
    return this.#perCredential.size;
  }

  /** The refusal a new task of this credential would get now, or undefined when it fits. */
  refusal(fingerprint: string): GatewayError | undefined {
    const { maxTasks, maxPerCredential } = this.#limits;
    if ((this.#perCredential.get(fingerprint) ?? 0) >= maxPerCredential) {
      return new GatewayError(
        'RATE_LIMITED',
        `This token is watching ${maxPerCredential} tasks on this gateway, its limit ` +
          '(MAX_WATCHED_TASKS_PER_CREDENTIAL): try again when one of its watches ends',
      );
    }
    if (this.#total >= maxTasks) {
      return new GatewayError(
        'RATE_LIMITED',
        `This gateway is watching ${maxTasks} tasks, its limit (MAX_WATCHED_TASKS): try again when a watch ends`,
      );
    }
    return undefined;
  }

  /** Counts one more task for the credential; the caller checked `refusal` first. */
  take(fingerprint: string): void {
    this.#perCredential.set(fingerprint, (this.#perCredential.get(fingerprint) ?? 0) + 1);
    this.#total += 1;
  }

  /** One task of the credential is no longer watched; its entry goes with its last task. */
  release(fingerprint: string): void {
    const held = this.#perCredential.get(fingerprint);
    if (held === undefined) return;
    if (held <= 1) this.#perCredential.delete(fingerprint);
    else this.#perCredential.set(fingerprint, held - 1);
    this.#total -= 1;
  }
}
