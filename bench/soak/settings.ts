/**
 * What both soaks (one instance, three instances) set alike: the gateway's timeouts and upload limits under faults,
 * and what the clients may wait for.
 */
import type { HostileOptions } from './hostile.ts';

/** The gateway's UPSTREAM_TIMEOUT_MS during a soak: faults delay answers past it. */
export const UPSTREAM_TIMEOUT_MS = 2_000;
/** A request may make a few upstream calls one after another (a write, its read-back, a task's status), each
 * bounded by UPSTREAM_TIMEOUT_MS; past four of them it hangs. */
export const HANG_MS = 4 * UPSTREAM_TIMEOUT_MS + 2_000;
/** A subscription ends with its task (4 s) or, under faults, after the watcher's failure budget (30 s). */
export const SUBSCRIPTION_MS = 60_000;
/** Small, so the hostile client's oversized upload is cheap to send; the soak's own files are a few bytes. */
export const MAX_UPLOAD_BYTES = 64 * 1024;
/** The upload pace window: the gateway closes a stalled upload after it, so the hostile client's stall is short. */
export const UPLOAD_RATE_WINDOW_MS = 5_000;

/** The hostile client against a gateway with the limits above. */
export function hostileOptions(erpConfigName: string, token: string): HostileOptions {
  return {
    maxUploadBytes: MAX_UPLOAD_BYTES,
    stallCloseMs: UPLOAD_RATE_WINDOW_MS + 5_000,
    erpConfigName,
    token,
  };
}
