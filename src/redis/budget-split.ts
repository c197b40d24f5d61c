/**
 * How a credential's budget is split between the instances sharing one Redis, so that together they never spend
 * more than the credential's limit in any window, whatever Redis and the processes do.
 *
 * Each instance has a private reserve of r = ⌊L / 2n⌋ slots per window (at least one when L ≥ n), counted only in
 * its own memory; the rest, the pool P = L − n·r, is counted only in Redis. Every slot comes from exactly one of
 * the two, so in any window the instances spend at most P + n·r = L as long as:
 * - Redis remembers the pool's window. When it comes back empty (restarted without persistence, or failed over to
 *   a replica that missed writes), an instance that knew the earlier Redis sees the new epoch (budget-scripts.ts)
 *   and closes the pool for one window: the slots Redis forgot leave EPMware's window by then.
 * - each instance remembers its reserve's window. A new process cannot know what its predecessor (the instance it
 *   replaces) spent, so its reserve opens one window after it starts; until then it spends from the pool only.
 * - at most n instances run (GATEWAY_INSTANCES). A rolling restart's extra instance spends no reserve during its
 *   first window, which covers the old one's drain.
 *
 * While Redis is unreachable an instance spends its reserve alone; while Redis is up it spends the pool first and
 * its reserve when the pool has no slot, so the reserve is also headroom for an instance that gets more traffic.
 * Half and half is the trade: a bigger reserve serves more during an outage, a bigger pool lets one busy instance
 * take more of the minute (P + r of L: 68 of 100 with three instances).
 */
import type { EndpointClass } from '../upstream/budget.ts';

export interface BudgetSplit {
  pool: Record<EndpointClass, number>;
  reserve: Record<EndpointClass, number>;
}

function reserveOf(limit: number, instances: number): number {
  if (limit >= 2 * instances) return Math.floor(limit / (2 * instances));
  return limit >= instances ? 1 : 0;
}

export function splitBudget(limits: Record<EndpointClass, number>, instances: number): BudgetSplit {
  const n = Math.max(1, instances);
  const reserve = {
    standard: reserveOf(limits.standard, n),
    upload: reserveOf(limits.upload, n),
    bulk: reserveOf(limits.bulk, n),
  };
  const pool = {
    standard: limits.standard - n * reserve.standard,
    upload: limits.upload - n * reserve.upload,
    bulk: limits.bulk - n * reserve.bulk,
  };
  return { pool, reserve };
}
