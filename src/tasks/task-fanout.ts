/**
 * Pub/sub fan-out of task events: one SUBSCRIBE per watched task on this instance's subscriber connection, and
 * each message handed to the one SharedTaskPoller that watches that task here. ioredis directly rather than the
 * Yoga event target: a subscription here must come and go with its poller (not with a GraphQL operation), and the
 * messages are parsed and checked before anyone sees them.
 *
 * The subscriber connection queues SUBSCRIBE while Redis is away and re-subscribes by itself after a reconnect;
 * a message missed in between is caught up by the poller's next lease tick (it compares versions).
 */
import type { ErrorCode } from '../errors.ts';
import type { RedisConnection } from '../redis/connection.ts';
import { isTaskStatus, type TaskEvent } from './task-lease.ts';

export class TaskFanout {
  readonly #redis: RedisConnection;
  /** One handler per channel: the TaskWatcher keeps one poller per task, bounded by its poller cap. */
  readonly #handlers = new Map<string, (event: TaskEvent) => void>();
  #listening = false;

  constructor(redis: RedisConnection) {
    this.#redis = redis;
  }

  get channelCount(): number {
    return this.#handlers.size;
  }

  join(channel: string, handler: (event: TaskEvent) => void): void {
    const subscriber = this.#redis.subscriber();
    if (!this.#listening) {
      this.#listening = true;
      subscriber.on('message', (from: string, message: string) => {
        const event = parseEvent(message);
        if (event) this.#handlers.get(from)?.(event);
      });
    }
    this.#handlers.set(channel, handler);
    subscriber.subscribe(channel).catch(() => {
      // Closed while subscribing (shutdown): nothing to deliver to any more.
    });
  }

  leave(channel: string): void {
    if (!this.#handlers.delete(channel)) return;
    this.#redis
      .subscriber()
      .unsubscribe(channel)
      .catch(() => {});
  }
}

/** A message from the channel, or undefined when it is not one this gateway wrote. */
export function parseEvent(message: string): TaskEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const event = value as Record<string, unknown>;
  switch (event.kind) {
    case 'status':
      return typeof event.version === 'number' && isTaskStatus(event.task)
        ? { kind: 'status', version: event.version, task: event.task }
        : undefined;
    case 'end': {
      const error = event.error as Record<string, unknown> | null | undefined;
      if (typeof error?.message !== 'string') return undefined;
      return {
        kind: 'end',
        error: {
          message: error.message,
          ...(typeof error.code === 'string' ? { code: error.code as ErrorCode } : {}),
          ...(typeof error.upstreamStatus === 'number' ? { upstreamStatus: error.upstreamStatus } : {}),
          ...(typeof error.endpoint === 'string' ? { endpoint: error.endpoint } : {}),
        },
      };
    }
    case 'released':
      return { kind: 'released' };
    default:
      return undefined;
  }
}
