/**
 * The instances soak's gateways: N slots, each holding one gateway process at a time (soak/gateway-process.ts),
 * killed and restarted by the churn. Clients go round robin, per request, over the instances up: each client's
 * requests then reach every instance, so every instance spends every token's budget at once, which is the case
 * the shared budget must hold (a client pinned to one instance would let one instance own a token's whole demand).
 * An instance leaves the rotation when it is signalled, as a load balancer told of the stop would take it out.
 *
 * Every answer is kept with the process that gave it, for the availability check (availability.ts).
 */

import { type Availability, availabilityOf } from './availability.ts';
import { type SoakGateway, startSoakGateway } from './gateway-process.ts';
import type { Target } from './tenant.ts';

export interface InstanceProcess {
  instance: number;
  gateway: SoakGateway;
  /** Date.now() when it was started, and when it printed its banner. */
  startedAt: number;
  readyAt: number;
  /** The signal the churn sent it, and when; null while it serves. */
  stop: { signal: 'SIGKILL' | 'SIGTERM'; at: number } | null;
}

export interface AnswerSample {
  process: InstanceProcess;
  /** Date.now() when the request was sent. */
  sentAt: number;
  availability: Availability | 'interrupted';
}

export class Cluster {
  /** Every process started, in order. */
  readonly processes: InstanceProcess[] = [];
  readonly samples: AnswerSample[] = [];
  readonly #current: Array<InstanceProcess | null>;
  readonly #env: (instance: number) => Record<string, string>;
  readonly #secrets: string[];
  readonly #notable: RegExp | undefined;
  /** After SIGTERM the gateway drains this long, serving everything; a request cut later is the stop's doing. */
  readonly #drainMs: number;
  #turn = 0;

  constructor(
    size: number,
    env: (instance: number) => Record<string, string>,
    secrets: string[],
    drainMs: number,
    notable?: RegExp,
  ) {
    this.#current = Array.from({ length: size }, () => null);
    this.#env = env;
    this.#secrets = secrets;
    this.#drainMs = drainMs;
    this.#notable = notable;
  }

  get size(): number {
    return this.#current.length;
  }

  /** The instance's process now, or null while it is down. */
  current(instance: number): InstanceProcess | null {
    return this.#current[instance] ?? null;
  }

  async start(instance: number): Promise<InstanceProcess> {
    const startedAt = Date.now();
    const gateway = await startSoakGateway(this.#env(instance), this.#secrets, this.#notable);
    const started: InstanceProcess = { instance, gateway, startedAt, readyAt: Date.now(), stop: null };
    this.processes.push(started);
    this.#current[instance] = started;
    return started;
  }

  /** Sends the signal, takes the instance out of the rotation, waits for the process to exit. */
  async stop(instance: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const running = this.#current[instance];
    if (!running) return;
    this.#current[instance] = null;
    running.stop = { signal, at: Date.now() };
    running.gateway.signal(signal);
    const forced = setTimeout(() => running.gateway.signal('SIGKILL'), 15_000);
    await running.gateway.gone;
    clearTimeout(forced);
  }

  /** Stops every instance still up (SIGTERM, as a deploy would), for the end of the run. */
  async stopAll(): Promise<void> {
    await Promise.all(this.#current.map((_, instance) => this.stop(instance, 'SIGTERM')));
  }

  /** The next instance up, round robin; when none is up, the last one (its refusal is then the churn's). */
  target(): Target {
    const up = this.#current.filter((each): each is InstanceProcess => each !== null);
    const chosen = up[this.#turn++ % Math.max(1, up.length)] ?? this.processes.at(-1);
    if (!chosen) throw new Error('no gateway was ever started');
    const sentAt = Date.now();
    const interrupted = () => {
      const stop = chosen.stop;
      if (!stop) return false;
      return stop.signal === 'SIGKILL' || Date.now() - stop.at >= this.#drainMs;
    };
    return {
      url: chosen.gateway.url,
      answered: (status, body) => {
        const availability = status === null && interrupted() ? 'interrupted' : availabilityOf(status, body);
        this.samples.push({ process: chosen, sentAt, availability });
      },
      interrupted,
    };
  }
}
