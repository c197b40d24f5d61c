/**
 * The one connection to Redis (REDIS_URL) that every piece of shared state uses: the budget, the GET cache and
 * its invalidation, the task-poll leases and their fan-out. Redis is an optimisation of several instances, never
 * a dependency of one: commands fail fast instead of queueing while Redis is away (`enableOfflineQueue: false`,
 * a short `commandTimeout`, one retry at most), callers fall back to in-process state, and the client reconnects
 * by itself forever so sharing resumes when Redis comes back. `isUp()` and `onStateChange` tell callers which
 * side to use; the state is logged once per change, never with the URL's password.
 *
 * ioredis and not node-redis: its offline queue, command timeout and reconnect strategy are plain options.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../observability/logger.ts';

/** Longest a single Redis command may take before the caller gives up and falls back (loopback or LAN Redis
 * answers in well under a millisecond; this is for a Redis that is overloaded or half-gone). */
export const REDIS_COMMAND_TIMEOUT_MS = 500;
const CONNECT_TIMEOUT_MS = 1_000;
/** Reconnect backoff: quick at first, then every 2 s; never gives up, so an instance rejoins by itself. */
const MAX_RECONNECT_DELAY_MS = 2_000;

export class RedisConnection {
  /** For commands and scripts (and PUBLISH). Fails fast while Redis is down: check `isUp()` or catch. */
  readonly commands: Redis;
  readonly #options: RedisOptions;
  readonly #url: URL;
  readonly #prefix: string;
  readonly #logger: Logger;
  readonly #listeners = new Set<(up: boolean) => void>();
  #subscriber: Redis | null = null;
  #up = false;
  /** Whether "Redis unreachable" was already logged for the current outage (or the start-up one). */
  #downLogged = false;
  #closed = false;

  constructor(url: URL, prefix: string, logger: Logger) {
    this.#url = url;
    this.#prefix = prefix;
    this.#logger = logger.child({ component: 'redis' });
    this.#options = {
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: (times) => Math.min(times * 100, MAX_RECONNECT_DELAY_MS),
      // A READONLY reply means a replica was promoted under us: reconnect to find the primary.
      reconnectOnError: (error) => error.message.startsWith('READONLY'),
    };
    // ioredis reads host, port, password, database and TLS (rediss:) from the URL itself.
    this.commands = new Redis(url.href, this.#options);
    this.commands.on('ready', () => this.#setUp(true));
    this.commands.on('close', () => this.#setUp(false));
    // Without a listener ioredis prints every failed reconnect to stderr; the state change is logged instead.
    this.commands.on('error', () => this.#setUp(false));
  }

  /**
   * The connection for SUBSCRIBE (a subscribed connection can run nothing else), made on first use. Unlike
   * `commands` it queues while Redis is down: a subscription is not on a request's path, and ioredis
   * re-subscribes by itself after a reconnect.
   */
  subscriber(): Redis {
    if (!this.#subscriber) {
      this.#subscriber = new Redis(this.#url.href, {
        ...this.#options,
        enableOfflineQueue: true,
        maxRetriesPerRequest: null,
        commandTimeout: undefined,
      });
      this.#subscriber.on('error', () => {});
    }
    return this.#subscriber;
  }

  /** A namespaced key: REDIS_KEY_PREFIX followed by the parts joined with ':'. */
  key(...parts: string[]): string {
    return `${this.#prefix}${parts.join(':')}`;
  }

  isUp(): boolean {
    return this.#up;
  }

  /** Called with true when Redis becomes usable, false when it goes away. Returns the unsubscribe function. */
  onStateChange(listener: (up: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    await Promise.all([this.commands, this.#subscriber].map((client) => (client ? quit(client) : undefined)));
  }

  #setUp(up: boolean): void {
    if (this.#closed) return;
    if (up === this.#up) {
      if (!up && !this.#downLogged) this.#logDown();
      return;
    }
    this.#up = up;
    if (up) {
      this.#downLogged = false;
      this.#logger.info({ redis: this.#safeUrl() }, 'redis connected: sharing state with other instances');
    } else {
      this.#logDown();
    }
    for (const listener of this.#listeners) listener(up);
  }

  #logDown(): void {
    this.#downLogged = true;
    this.#logger.warn(
      { redis: this.#safeUrl() },
      'redis unreachable: serving with in-process state and this instance share of the budget until it is back',
    );
  }

  /** The URL without credentials, for logs. */
  #safeUrl(): string {
    return `${this.#url.protocol}//${this.#url.host}${this.#url.pathname}`;
  }
}

/** Graceful QUIT when connected; otherwise (or if QUIT fails) drop the socket and stop reconnecting. */
async function quit(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through to disconnect
    }
  }
  client.disconnect(false);
}

export function connectRedis(url: URL, prefix: string, logger: Logger): RedisConnection {
  return new RedisConnection(url, prefix, logger);
}
