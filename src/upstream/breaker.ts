/**
 * Circuit breakers in front of EPMware, one per EPMware service (task, erp, deployment, export, security): EPMware
 * reports its services down one by one ("Deployment Service is not running"), so a dead deployment service must
 * not stop security reads.
 *
 * A circuit opens only on evidence that the service is down: within a rolling window (default 10 s), at least
 * `minimumFailures` distinct calls (default 5) ended in an outage (connection refused, reset or unresolvable; a
 * response timeout; 502, 503 or 504), they are at least `failureRatio` (default half) of the calls that reached
 * an outcome there, and they came from at least two credentials or asked for at least two paths. Everything else
 * is not evidence and counts for nothing (see failures.ts): 4xx, a 500 for one resource, malformed bodies, errors
 * raised before a request was sent, the gateway's own deadline or budget wait, a caller's abort, and any failure
 * of a request that was itself oversized (a front door refuses those by resetting the connection, which would
 * otherwise read as EPMware being down).
 *
 * Why the diversity: an outage of EPMware fails everyone's calls, whatever they ask; failures that all come from
 * one token asking for one thing are about that token or that thing (its size, its content, a proxy rule that
 * drops it). Without the rule one client could open a circuit for every tenant by repeating one request that
 * EPMware's front door resets. A deployment with a single credential (EPMWARE_TOKEN only) still opens on an
 * outage: its failures span several paths (users, groups, tasks by id).
 *
 * While open, calls to that service fail fast for `cooldownMs` (default 10 s); then exactly one probe goes through
 * (half-open): an answer closes the circuit, an outage opens it again, and a probe that ends without a verdict
 * frees the slot for the next caller.
 *
 * Modelled on undici's circuit-breaker interceptor proposal (nodejs/undici#4700: threshold 5, one half-open
 * request, status and error-code lists), with three deliberate differences: keyed by EPMware service rather than
 * origin; 500 is not an outage (EPMware answers 500 for one broken record while the service is fine); and a ratio
 * over a time window instead of consecutive failures, so a few failures amid healthy traffic never open it.
 * Hand-written because undici 7 ships no breaker interceptor, and one below this client could not tell a retry
 * from a new call, nor the gateway's own deadline from EPMware's silence.
 */
import { UpstreamError } from '../errors.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import {
  answerOutcome,
  type EvidenceSource,
  evidenceSource,
  type Outcome,
  transportOutcome,
} from './failures.ts';
import type { Attempt, AttemptStage, Call } from './pipeline.ts';

export type { EvidenceSource, Outcome } from './failures.ts';

export const SERVICES = ['task', 'erp', 'deployment', 'export', 'security'] as const;
export type Service = (typeof SERVICES)[number];

export interface BreakerOptions {
  /** Distinct failed calls in the window before a circuit may open; default 5 (also the minimum volume). */
  minimumFailures?: number;
  /** Share of the window's calls that must have failed; default 0.5. */
  failureRatio?: number;
  /** The rolling window; default 10 s. */
  windowMs?: number;
  /** How long it stays open before one probe; default 10 s (tests use a few hundred ms). */
  cooldownMs?: number;
}

/** Permission for one attempt; `probe` is the one request let through a half-open circuit. */
export interface Admission {
  service: Service;
  probe: boolean;
  source: EvidenceSource;
}

/** The window is kept as per-second buckets of counts: memory is fixed whatever the traffic. */
const BUCKET_MS = 1_000;
/** Distinct credentials (or paths) the evidence must span. */
const DIVERSITY = 2;

/**
 * The first few distinct values seen (credentials or paths): all the diversity check needs, so a bucket holds at
 * most DIVERSITY of each, however many clients fail in it.
 */
class FirstDistinct {
  readonly values: string[] = [];

  add(value: string): void {
    if (this.values.length < DIVERSITY && !this.values.includes(value)) this.values.push(value);
  }
}

interface OutageSources {
  credentials: FirstDistinct;
  paths: FirstDistinct;
}

const noSources = (): OutageSources => ({ credentials: new FirstDistinct(), paths: new FirstDistinct() });

class ServiceCircuit {
  readonly #failures: number[];
  readonly #calls: number[];
  readonly #sources: OutageSources[];
  #bucketAt = 0;
  #bucket = 0;
  /** 0 while closed; else when the cool-down ends (after which one probe may go). */
  openUntil = 0;
  probeInFlight = false;

  constructor(buckets: number) {
    this.#failures = new Array<number>(buckets).fill(0);
    this.#calls = new Array<number>(buckets).fill(0);
    this.#sources = Array.from({ length: buckets }, noSources);
  }

  /** One call's verdict; a failure's source joins the window's evidence. */
  record(failed: EvidenceSource | null, now: number): { failures: number; calls: number; diverse: boolean } {
    this.#advance(now);
    this.#calls[this.#bucket] = (this.#calls[this.#bucket] ?? 0) + 1;
    if (failed) {
      this.#failures[this.#bucket] = (this.#failures[this.#bucket] ?? 0) + 1;
      const sources = this.#sources[this.#bucket];
      sources?.credentials.add(failed.credential);
      sources?.paths.add(failed.path);
    }
    return { failures: sum(this.#failures), calls: sum(this.#calls), diverse: this.#diverse() };
  }

  reset(): void {
    this.#failures.fill(0);
    this.#calls.fill(0);
    for (let i = 0; i < this.#sources.length; i++) this.#sources[i] = noSources();
  }

  /** Credentials and paths held as evidence: at most DIVERSITY of each per bucket (the flood test reads it). */
  rememberedSources(): number {
    let remembered = 0;
    for (const sources of this.#sources)
      remembered += sources.credentials.values.length + sources.paths.values.length;
    return remembered;
  }

  /** The window's failures came from at least two credentials, or asked for at least two paths. */
  #diverse(): boolean {
    const credentials = new FirstDistinct();
    const paths = new FirstDistinct();
    for (const sources of this.#sources) {
      for (const credential of sources.credentials.values) credentials.add(credential);
      for (const path of sources.paths.values) paths.add(path);
    }
    return credentials.values.length >= DIVERSITY || paths.values.length >= DIVERSITY;
  }

  #advance(now: number): void {
    const slot = Math.floor(now / BUCKET_MS);
    if (this.#bucketAt === 0) this.#bucketAt = slot;
    const steps = Math.min(slot - this.#bucketAt, this.#calls.length);
    for (let i = 0; i < steps; i++) {
      this.#bucket = (this.#bucket + 1) % this.#calls.length;
      this.#calls[this.#bucket] = 0;
      this.#failures[this.#bucket] = 0;
      this.#sources[this.#bucket] = noSources();
    }
    this.#bucketAt = slot;
  }
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

export class CircuitBreakers {
  readonly #minimumFailures: number;
  readonly #failureRatio: number;
  readonly #cooldownMs: number;
  readonly #metrics: GatewayMetrics;
  readonly #circuits: Record<Service, ServiceCircuit>;

  constructor(options: BreakerOptions, metrics: GatewayMetrics) {
    this.#minimumFailures = options.minimumFailures ?? 5;
    this.#failureRatio = options.failureRatio ?? 0.5;
    this.#cooldownMs = options.cooldownMs ?? 10_000;
    const buckets = Math.max(1, Math.ceil((options.windowMs ?? 10_000) / BUCKET_MS));
    this.#metrics = metrics;
    this.#circuits = {
      task: new ServiceCircuit(buckets),
      erp: new ServiceCircuit(buckets),
      deployment: new ServiceCircuit(buckets),
      export: new ServiceCircuit(buckets),
      security: new ServiceCircuit(buckets),
    };
    for (const service of SERVICES) this.#metrics.circuitOpen.set({ service }, 0);
  }

  /** The services whose circuit is open or half-open: for /readyz. */
  openServices(): Service[] {
    return SERVICES.filter((service) => this.#circuits[service].openUntil !== 0);
  }

  /** How many credentials and paths the circuits hold as evidence, all services together (bounded). */
  rememberedSources(): number {
    return SERVICES.reduce((total, service) => total + this.#circuits[service].rememberedSources(), 0);
  }

  isOpen(service: Service): boolean {
    return this.#circuits[service].openUntil !== 0;
  }

  /** True when an attempt now would be refused: checked before queueing for budget, so no slot is wasted. */
  refusesNow(service: Service): boolean {
    const circuit = this.#circuits[service];
    return circuit.openUntil !== 0 && (Date.now() < circuit.openUntil || circuit.probeInFlight);
  }

  /** Seconds until the next probe may go, for the error message. */
  secondsUntilProbe(service: Service): number {
    return Math.max(1, Math.ceil((this.#circuits[service].openUntil - Date.now()) / 1000));
  }

  /** An admission for one attempt (`source`: who asks for what), or null when the circuit refuses it. */
  admit(service: Service, source: EvidenceSource): Admission | null {
    const circuit = this.#circuits[service];
    if (circuit.openUntil === 0) return { service, probe: false, source };
    if (this.refusesNow(service)) return null;
    circuit.probeInFlight = true;
    return { service, probe: true, source };
  }

  /**
   * The attempt's outcome. `counted` is false once an earlier attempt of the same call reached a verdict: the
   * window counts calls, so evidence comes from distinct calls and never from one call's retries.
   */
  report(admission: Admission, reported: Outcome, counted = true): void {
    const circuit = this.#circuits[admission.service];
    if (admission.probe) circuit.probeInFlight = false;
    // An oversized request failing says something about its size, nothing about EPMware.
    const outcome = reported === 'outage' && admission.source.oversized ? 'no-verdict' : reported;
    if (outcome === 'no-verdict') return;
    if (outcome === 'answered') {
      if (circuit.openUntil !== 0) this.#close(admission.service);
      else if (counted) circuit.record(null, Date.now());
      return;
    }
    if (admission.probe) {
      this.#open(admission.service);
      return;
    }
    if (circuit.openUntil !== 0 || !counted) return;
    const { failures, calls, diverse } = circuit.record(admission.source, Date.now());
    if (diverse && failures >= this.#minimumFailures && failures >= calls * this.#failureRatio)
      this.#open(admission.service);
  }

  #open(service: Service): void {
    this.#circuits[service].openUntil = Date.now() + this.#cooldownMs;
    this.#metrics.circuitOpen.set({ service }, 1);
  }

  #close(service: Service): void {
    const circuit = this.#circuits[service];
    circuit.openUntil = 0;
    circuit.reset();
    this.#metrics.circuitOpen.set({ service }, 0);
  }
}

/** The EPMware service a path below /service/api belongs to, e.g. `/task/get_status/7` -> task. */
export function serviceOf(path: string): Service {
  const first = path.split('/')[1];
  const service = SERVICES.find((name) => name === first);
  if (!service) throw new Error(`No EPMware service for path ${path}`);
  return service;
}

/**
 * The first of the breaker's two stages, before the budget wait: a call to a service whose circuit is open fails
 * fast, so it never queues for (or spends) a slot.
 */
export function refusedWhileOpen(breakers: CircuitBreakers): AttemptStage {
  return (next) => (attempt) => {
    const service = serviceOf(attempt.call.path);
    if (breakers.refusesNow(service))
      return Promise.reject(circuitOpenError(breakers, attempt.call, service));
    return next(attempt);
  };
}

/**
 * The second, once the attempt has its slot: admitted (checked again: the circuit may have opened while it waited;
 * while half-open, only as the one probe), and its outcome told to the circuit. Only a call's first attempt with a
 * verdict counts, so evidence comes from distinct calls, never from one call's retries. A timeout counts only
 * after a fair wait: `evidenceMs`, half of UPSTREAM_TIMEOUT_MS. A request big enough for a front door to refuse
 * (failures.ts `evidenceSource`) is never evidence, and one credential asking for one path is not enough.
 */
export function judgedByBreaker(
  breakers: CircuitBreakers,
  evidenceMs: number,
  /** What comes before a call's path on the wire (EPMWARE_URL's path and /service/api), to weigh its size. */
  pathPrefix: string,
): AttemptStage {
  return (next) => async (attempt) => {
    const service = serviceOf(attempt.call.path);
    const admission = breakers.admit(service, evidenceSource(attempt.call, pathPrefix));
    if (!admission) throw circuitOpenError(breakers, attempt.call, service);
    try {
      const response = await next(attempt);
      report(admission, answerOutcome(response.statusCode));
      return response;
    } catch (error) {
      report(admission, outcomeOf(error, attempt, evidenceMs));
      throw error;
    }

    function report(admission: Admission, outcome: Outcome): void {
      breakers.report(admission, outcome, !attempt.verdictGiven);
      if (outcome !== 'no-verdict') attempt.verdictGiven = true;
    }
  };
}

function outcomeOf(error: unknown, attempt: Attempt, evidenceMs: number): Outcome {
  const { deadline } = attempt;
  if (deadline.callerAborted) return 'no-verdict';
  return transportOutcome(error, {
    waitedMs: Date.now() - Math.max(attempt.sentAt, deadline.progressAt),
    evidenceMs,
    bodyPending: attempt.bodyPending,
  });
}

function circuitOpenError(breakers: CircuitBreakers, call: Call, service: Service): UpstreamError {
  return new UpstreamError(
    'UPSTREAM_UNAVAILABLE',
    `EPMware's ${service} service is unavailable (it failed repeatedly); calls to it are paused ` +
      `(next try in ${breakers.secondsUntilProbe(service)} s)`,
    { endpoint: call.endpoint },
  );
}
