// Injected faults: tests and benchmarks describe upstream misbehaviour (errors, slowness, resets) here
// instead of in mocks, so the gateway is exercised over real HTTP.
import type { Fault } from './contract.ts';

export function pathMatches(pattern: string, path: string): boolean {
  return pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : path === pattern;
}

/** Throws on a fault that cannot mean anything, so a typo in a test fails loudly instead of injecting nothing. */
export function validateFault(value: unknown): Fault {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError('A fault must be an object');
  }
  const f = value as Record<string, unknown>;
  const fault: Fault = { path: requireString(f, 'path') };
  const method = optional(f, 'method', 'string');
  if (method !== undefined) fault.method = method.toUpperCase();
  const token = optional(f, 'token', 'string');
  if (token !== undefined) fault.token = token;
  const times = optional(f, 'times', 'number');
  if (times !== undefined) fault.times = times;
  const minHeaderBytes = optional(f, 'minHeaderBytes', 'number');
  if (minHeaderBytes !== undefined) fault.minHeaderBytes = minHeaderBytes;
  const status = optional(f, 'status', 'number');
  if (status !== undefined) {
    if (!Number.isInteger(status) || status < 100 || status > 599)
      throw new TypeError('fault.status must be an HTTP status');
    fault.status = status;
  }
  const message = optional(f, 'message', 'string');
  if (message !== undefined) fault.message = message;
  const retryAfter = f.retryAfter;
  if (retryAfter !== undefined) {
    if (typeof retryAfter !== 'string' && typeof retryAfter !== 'number') {
      throw new TypeError('fault.retryAfter must be a string');
    }
    fault.retryAfter = String(retryAfter);
  }
  const delayMs = optional(f, 'delayMs', 'number');
  if (delayMs !== undefined) fault.delayMs = delayMs;
  const reset = optional(f, 'reset', 'boolean');
  if (reset !== undefined) fault.reset = reset;
  const truncate = optional(f, 'truncate', 'boolean');
  if (truncate !== undefined) fault.truncate = truncate;
  const body = optional(f, 'body', 'string');
  if (body !== undefined) fault.body = body;
  const headers = f.headers;
  if (headers !== undefined) {
    if (
      typeof headers !== 'object' ||
      headers === null ||
      Array.isArray(headers) ||
      !Object.values(headers).every((value) => typeof value === 'string')
    ) {
      throw new TypeError('fault.headers must map header names to strings');
    }
    fault.headers = { ...(headers as Record<string, string>) };
  }
  return fault;
}

function requireString(f: Record<string, unknown>, name: string): string {
  const v = f[name];
  if (typeof v !== 'string' || v.length === 0)
    throw new TypeError(`fault.${name} must be a non-empty string`);
  return v;
}

function optional(f: Record<string, unknown>, name: string, type: 'string'): string | undefined;
function optional(f: Record<string, unknown>, name: string, type: 'number'): number | undefined;
function optional(f: Record<string, unknown>, name: string, type: 'boolean'): boolean | undefined;
function optional(
  f: Record<string, unknown>,
  name: string,
  type: 'string' | 'number' | 'boolean',
): string | number | boolean | undefined {
  const v = f[name];
  if (v === undefined) return undefined;
  if (typeof v !== type) throw new TypeError(`fault.${name} must be a ${type}`);
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  return undefined;
}

export class FaultStore {
  private faults: { fault: Fault; remaining: number }[] = [];

  add(fault: unknown): void {
    const validated = validateFault(fault);
    this.faults.push({ fault: validated, remaining: validated.times ?? Number.POSITIVE_INFINITY });
  }

  clear(): void {
    this.faults = [];
  }

  /** The first matching fault, consuming one of its `times`. `headerBytes`: the request line and headers' size. */
  take(method: string, path: string, token: string | null, headerBytes = 0): Fault | undefined {
    const index = this.faults.findIndex(
      ({ fault }) =>
        pathMatches(fault.path, path) &&
        (fault.method === undefined || fault.method === method) &&
        (fault.token === undefined || fault.token === token) &&
        (fault.minHeaderBytes === undefined || headerBytes >= fault.minHeaderBytes),
    );
    const hit = this.faults[index];
    if (!hit) return undefined;
    hit.remaining -= 1;
    if (hit.remaining <= 0) this.faults.splice(index, 1);
    return hit.fault;
  }
}
