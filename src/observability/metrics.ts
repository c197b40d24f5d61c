/**
 * The gateway's Prometheus metrics, one registry per gateway instance (tests run several in one process), plus
 * prom-client's process and Node.js runtime metrics (CPU, memory, event-loop delay, GC, handles), which describe the
 * process and are collected once per process. Labels are route templates, endpoint labels, services, methods,
 * statuses and classes: never tokens, user names, task ids or client-chosen operation names.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

let runtimeRegistry: Registry | undefined;

/** The process' own metrics, registered once however many gateways the process runs. */
function runtimeMetrics(): Registry {
  if (!runtimeRegistry) {
    runtimeRegistry = new Registry();
    collectDefaultMetrics({ register: runtimeRegistry });
  }
  return runtimeRegistry;
}

/** Seconds, for every latency histogram: from a cached answer (5 ms) to the longest upstream deadline (30 s). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class GatewayMetrics {
  readonly registry = new Registry();

  constructor() {
    runtimeMetrics();
  }

  /** What /metrics answers: the gateway's series, then the process'. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    const [own, runtime] = await Promise.all([this.registry.metrics(), runtimeMetrics().metrics()]);
    return { contentType: this.registry.contentType, text: `${own}\n${runtime}` };
  }

  readonly graphqlOperations = new Counter({
    name: 'gateway_graphql_operations_total',
    help: 'GraphQL operations executed, by operation type and outcome',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly upstreamRequests = new Counter({
    name: 'gateway_upstream_requests_total',
    help: 'Requests sent to EPMware, by endpoint, method and HTTP status (0 when no answer came)',
    labelNames: ['endpoint', 'method', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpRequestDuration = new Histogram({
    name: 'gateway_http_request_duration_seconds',
    help: 'Time from a request to the end of its answer, by route template, method and status class',
    labelNames: ['route', 'method', 'status_class'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly graphqlOperationDuration = new Histogram({
    name: 'gateway_graphql_operation_duration_seconds',
    help: 'Execution time of GraphQL operations (a subscription: until its stream is set up), by type and outcome',
    labelNames: ['operation', 'outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly upstreamDuration = new Histogram({
    name: 'gateway_upstream_request_duration_seconds',
    help: 'Latency of requests sent to EPMware, by EPMware service, endpoint and method',
    labelNames: ['service', 'endpoint', 'method'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly upstreamRetries = new Counter({
    name: 'gateway_upstream_retries_total',
    help: 'Upstream GETs retried after a 502/503/504, a 429 or a connection error',
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
  });

  readonly upstreamRateLimited = new Counter({
    name: 'gateway_upstream_429_total',
    help: 'Upstream answers with status 429',
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
  });

  readonly cacheLookups = new Counter({
    name: 'gateway_upstream_cache_lookups_total',
    help: 'Per-credential GET cache lookups, by endpoint and result (hit, miss, coalesced)',
    labelNames: ['endpoint', 'result'] as const,
    registers: [this.registry],
  });

  readonly budgetQueueLength = new Gauge({
    name: 'gateway_budget_queue_length',
    help: 'Upstream requests waiting for the per-credential budget, by priority',
    labelNames: ['priority'] as const,
    registers: [this.registry],
  });

  readonly budgetRejections = new Counter({
    name: 'gateway_budget_rejections_total',
    help: 'Requests answered RATE_LIMITED because the budget could not serve them in time',
    labelNames: ['class'] as const,
    registers: [this.registry],
  });

  readonly circuitOpen = new Gauge({
    name: 'gateway_upstream_circuit_open',
    help: '1 while the circuit breaker to that EPMware service is open (or half-open)',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  readonly activeSubscriptions = new Gauge({
    name: 'gateway_active_subscriptions',
    help: 'GraphQL subscriptions currently open',
    registers: [this.registry],
  });

  readonly activePollers = new Gauge({
    name: 'gateway_active_task_pollers',
    help: 'Task pollers currently running (one per credential and task)',
    registers: [this.registry],
  });
}
