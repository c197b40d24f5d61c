/**
 * The SSE responses open on this instance (subscriptions over `Accept: text/event-stream`), so that shutdown can
 * end them without their `complete` event: a graphql-sse client then reconnects (to another instance, behind a load
 * balancer) and its resubscription gets the task's current status at once, where a `complete` would have told it
 * the task was over. Bounded by the open connections (each response leaves the set when it closes).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export class EventStreams {
  readonly #open = new Set<ServerResponse>();

  get size(): number {
    return this.#open.size;
  }

  /** Remembers `res` while it is open, if the request asks for an event stream. */
  track(req: IncomingMessage, res: ServerResponse): void {
    if (!req.headers.accept?.includes('text/event-stream')) return;
    this.#open.add(res);
    res.once('close', () => this.#open.delete(res));
  }

  /** Cuts every open stream: the connection closes where an event would have been. */
  cut(): void {
    for (const res of this.#open) res.destroy();
    this.#open.clear();
  }
}
