// The log of what the simulator received, for assertions ("the gateway made exactly one call with body X").
import type { IncomingMessage } from 'node:http';
import type { RecordedRequest, RequestFilter } from './contract.ts';
import { pathMatches } from './faults.ts';

// A long benchmark must not grow memory without bound; tests never come near this.
const MAX_ENTRIES = 100_000;

export function parseToken(authorization: string | undefined): string | null {
  const match = /^Token\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1] ?? null;
}

export class RequestLog {
  private entries: RecordedRequest[] = [];
  private seq = 0;

  record(req: IncomingMessage, url: URL): RecordedRequest {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const query: Record<string, string> = {};
    for (const [name, value] of url.searchParams) if (!(name in query)) query[name] = value;
    const entry: RecordedRequest = {
      seq: ++this.seq,
      at: Date.now(),
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      headers,
      token: parseToken(req.headers.authorization),
      body: undefined,
      status: 0,
      rateLimited: false,
      remotePort: req.socket.remotePort ?? 0,
    };
    this.entries.push(entry);
    if (this.entries.length > MAX_ENTRIES * 1.1) this.entries = this.entries.slice(-MAX_ENTRIES);
    return entry;
  }

  list(filter: RequestFilter = {}): RecordedRequest[] {
    const method = filter.method?.toUpperCase();
    return this.entries
      .filter(
        (e) =>
          (method === undefined || e.method === method) &&
          (filter.path === undefined || pathMatches(filter.path, e.path)),
      )
      .map((e) => ({ ...e, query: { ...e.query }, headers: { ...e.headers } }));
  }

  clear(): void {
    this.entries = [];
  }
}
