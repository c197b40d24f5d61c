// Documented limits: standard endpoints 100 requests/minute, file upload endpoints 10/minute, bulk
// operations 5/minute, per token. The docs do not say which endpoints are "bulk"; we count
//   POST /service/api/security/users/sso/assign_groups
//   POST /service/api/security/users/sso/unassign_groups
// as bulk, because each changes many group memberships in one request (it is the only fan-out write the API
// has). The one upload endpoint, POST /service/api/erp/upload_file, is the upload class; all else is standard.
import type { RateLimits } from './contract.ts';

export type RateClass = keyof RateLimits;

export const DOCUMENTED_LIMITS: RateLimits = { standard: 100, upload: 10, bulk: 5 };
export const RELAXED_LIMITS: RateLimits = { standard: 1_000_000, upload: 1_000_000, bulk: 1_000_000 };

const WINDOW_MS = 60_000;

export function resolveLimits(limits: RateLimits | 'documented' | 'relaxed' | undefined): RateLimits {
  if (limits === undefined || limits === 'documented') return { ...DOCUMENTED_LIMITS };
  if (limits === 'relaxed') return { ...RELAXED_LIMITS };
  for (const name of ['standard', 'upload', 'bulk'] as const) {
    const value = limits[name];
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
      throw new RangeError(`rateLimits.${name} must be a non-negative number`);
    }
  }
  return { ...limits };
}

export function rateClassOf(method: string, path: string): RateClass {
  if (method !== 'POST') return 'standard';
  if (path === '/service/api/erp/upload_file') return 'upload';
  if (path === '/service/api/security/users/sso/assign_groups') return 'bulk';
  if (path === '/service/api/security/users/sso/unassign_groups') return 'bulk';
  return 'standard';
}

/** Timestamps of admitted requests, oldest first; a head index instead of shift() keeps pruning O(1). */
class Window {
  private stamps: number[] = [];
  private head = 0;

  count(now: number): number {
    while (this.head < this.stamps.length && (this.stamps[this.head] ?? 0) <= now - WINDOW_MS) this.head++;
    if (this.head > 1024 && this.head * 2 > this.stamps.length) {
      this.stamps = this.stamps.slice(this.head);
      this.head = 0;
    }
    return this.stamps.length - this.head;
  }

  oldest(): number {
    return this.stamps[this.head] ?? 0;
  }

  add(now: number): void {
    this.stamps.push(now);
  }
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number; limit: number };

/** A sliding 60 s window per (token, class): exact, unlike fixed buckets that allow 2x bursts at an edge. */
export class RateLimiter {
  private windows = new Map<string, Window>();

  constructor(private limits: RateLimits) {}

  /** New limits start from empty windows, so a test that lowers a limit is not charged for earlier calls. */
  setLimits(limits: RateLimits): void {
    this.limits = limits;
    this.windows.clear();
  }

  check(token: string, rateClass: RateClass, now: number): RateDecision {
    const id = `${rateClass}\u0000${token}`;
    let window = this.windows.get(id);
    if (!window) {
      window = new Window();
      this.windows.set(id, window);
    }
    const limit = this.limits[rateClass];
    if (window.count(now) >= limit) {
      const waitMs = window.oldest() + WINDOW_MS - now;
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)), limit };
    }
    window.add(now);
    return { allowed: true };
  }
}
