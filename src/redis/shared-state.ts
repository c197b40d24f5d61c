/**
 * Picks where the budget and the GET cache live: with REDIS_URL, in Redis for every instance (each falling back to
 * in-process state while Redis is away); without it, nothing here runs and the upstream client builds its own
 * in-process ones, as a single instance always did.
 */
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { Budget } from '../upstream/budget.ts';
import type { AnswerCache } from '../upstream/cache.ts';
import type { UpstreamTuning } from '../upstream/client.ts';
import { connectRedis, type RedisConnection } from './connection.ts';
import { SharedBudget } from './shared-budget.ts';
import { SharedCache } from './shared-cache.ts';
import { SharedStateMetrics } from './state-metrics.ts';

export interface SharedState {
  /** null without REDIS_URL. */
  redis: RedisConnection | null;
  budget?: Budget;
  cache?: AnswerCache;
}

export function createSharedState(
  config: Config,
  metrics: GatewayMetrics,
  logger: Logger,
  tuning: UpstreamTuning = {},
): SharedState {
  if (!config.redisUrl) return { redis: null };
  const redis = connectRedis(config.redisUrl, config.redisKeyPrefix, logger);
  const stateMetrics = new SharedStateMetrics(metrics.registry);
  stateMetrics.redisUp.set(0);
  redis.onStateChange((up) => stateMetrics.redisUp.set(up ? 1 : 0));
  const budget = new SharedBudget({
    redis,
    perMinute: config.upstreamRateLimitPerMin,
    instances: config.gatewayInstances,
    windowMs: tuning.budgetWindowMs,
    reserveOpensAt: Date.now() + (tuning.budgetReserveOpensAfterMs ?? tuning.budgetWindowMs ?? 60_000),
    metrics,
    stateMetrics,
    logger,
  });
  const cache =
    config.cacheTtlMs > 0
      ? new SharedCache({
          redis,
          ttlMs: config.cacheTtlMs,
          maxEntries: tuning.cacheMaxEntries,
          versionTtlMs: config.cacheTtlMs + 2 * config.upstreamTimeoutMs + 60_000,
          stateMetrics,
        })
      : undefined;
  return { redis, budget, cache };
}
