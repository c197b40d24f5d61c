/**
 * Metrics of the shared state, registered on the gateway's own registry (one per instance): whether Redis is
 * usable, and how often a piece of state fell back to its in-process version.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export type SharedStateKind = 'budget' | 'cache';

export class SharedStateMetrics {
  readonly redisUp: Gauge;
  readonly fallbacks: Counter<'state'>;

  constructor(registry: Registry) {
    this.redisUp = new Gauge({
      name: 'gateway_redis_up',
      help: '1 while Redis (REDIS_URL) is usable and state is shared between instances, 0 while each instance runs alone',
      registers: [registry],
    });
    this.fallbacks = new Counter({
      name: 'gateway_shared_state_fallbacks_total',
      help: 'Budget claims and cache operations served by in-process state because Redis was unreachable or slow',
      labelNames: ['state'],
      registers: [registry],
    });
  }

  fellBack(state: SharedStateKind): void {
    this.fallbacks.inc({ state });
  }
}
