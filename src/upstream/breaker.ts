/**
 * The circuit breaker in front of EPMware's origin. After `failureThreshold` consecutive failures (connection
 * errors, timeouts, 5xx) every call fails fast with UPSTREAM_UNAVAILABLE for `cooldownMs`, instead of queueing
 * behind a dead upstream and spending budget on it; then one probe goes through (half-open): its success closes
 * the circuit, its failure opens it for another cool-down. Hand-written: undici has no breaker interceptor.
 */
import type { GatewayMetrics } from '../observability/metrics.ts';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit; default 5. */
  failureThreshold?: number;
  /** How long it stays open before one probe; default 10 s (tests use a few hundred ms). */
  cooldownMs?: number;
}

/** Permission for one attempt; `probe` is the one request let through a half-open circuit. */
export interface Admission {
  probe: boolean;
}

export class CircuitBreaker {
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #metrics: GatewayMetrics;
  #consecutiveFailures = 0;
  /** 0 while closed; else when the cool-down ends (after which one probe may go). */
  #openUntil = 0;
  #probeInFlight = false;

  constructor(options: BreakerOptions, metrics: GatewayMetrics) {
    this.#threshold = options.failureThreshold ?? 5;
    this.#cooldownMs = options.cooldownMs ?? 10_000;
    this.#metrics = metrics;
  }

  /** Open or half-open: for /readyz and metrics. */
  isOpen(): boolean {
    return this.#openUntil !== 0;
  }

  /** True when an attempt now would be refused: checked before queueing for budget, so no slot is wasted. */
  refusesNow(): boolean {
    return this.#openUntil !== 0 && (Date.now() < this.#openUntil || this.#probeInFlight);
  }

  /** Seconds until the next probe may go, for the error message. */
  secondsUntilProbe(): number {
    return Math.max(1, Math.ceil((this.#openUntil - Date.now()) / 1000));
  }

  /** An admission for one attempt, or null when the circuit refuses it. */
  admit(): Admission | null {
    if (this.#openUntil === 0) return { probe: false };
    if (this.refusesNow()) return null;
    this.#probeInFlight = true;
    return { probe: true };
  }

  /** EPMware answered (any status below 500, including 4xx and 429): it is up. */
  succeeded(admission: Admission): void {
    if (admission.probe) this.#probeInFlight = false;
    this.#consecutiveFailures = 0;
    if (this.#openUntil !== 0) {
      this.#openUntil = 0;
      this.#metrics.circuitOpen.set(0);
    }
  }

  failed(admission: Admission): void {
    this.#consecutiveFailures++;
    if (admission.probe) {
      this.#probeInFlight = false;
      this.#open();
    } else if (this.#openUntil === 0 && this.#consecutiveFailures >= this.#threshold) {
      this.#open();
    }
  }

  /** The caller gave up before an answer: says nothing about EPMware, but frees the probe. */
  abandoned(admission: Admission): void {
    if (admission.probe) this.#probeInFlight = false;
  }

  #open(): void {
    this.#openUntil = Date.now() + this.#cooldownMs;
    this.#metrics.circuitOpen.set(1);
  }
}
