/**
 * The one connection to Redis (REDIS_URL) that every piece of shared state uses: the budget, the GET cache and
 * its invalidation, the task-poll leases and their fan-out. Redis is an optimisation of several instances, never
 * a dependency of one: commands fail fast instead of queueing while Redis is away (`enableOfflineQueue: false`,
 * a short `commandTimeout`, one retry at most), callers fall back to in-process state, and the client reconnects
 * by itself forever so sharing resumes when Redis comes back. `isUp()` and `onStateChange` tell callers which
 * side to use; while it is false no caller sends a command on a request's path.
 *
 * Up means usable, not merely connected:
 * - after each (re)connection the database of REDIS_URL is selected and checked (ioredis reports a failed SELECT
 *   only as an 'error' event and then goes on, on database 0);
 * - a Redis that refuses the URL (wrong password, no such database) is down with that cause;
 * - a Redis that stops answering with the connection open is down within two seconds (fuse.ts), and up again
 *   when the PING probe is answered.
 * Each outage is logged once, with its cause and never with the URL's password; /readyz shows the current cause.
 * At start a Redis that is not reachable yet (started alongside the gateway) is not reported for START_GRACE_MS,
 * so a normal start logs "connected" and no warning.
 *
 * ioredis and not node-redis: its offline queue, command timeout and reconnect strategy are plain options.
 */
import { Command, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../observability/logger.ts';
import { PROBE_GIVE_UP_MS, PROBE_TIMEOUT_MS, RedisFuse } from './fuse.ts';
import { noSuchDatabase, type RedisProblem, redisProblem } from './problems.ts';

/** Longest a single Redis command may take before the caller gives up and falls back (loopback or LAN Redis
 * answers in well under a millisecond; this is for a Redis that is overloaded or half-gone). */
export const REDIS_COMMAND_TIMEOUT_MS = 500;
const CONNECT_TIMEOUT_MS = 1_000;
/** Reconnect backoff: quick at first, then every 2 s; never gives up, so an instance rejoins by itself. */
const MAX_RECONNECT_DELAY_MS = 2_000;
/** How long a start-up may take to reach Redis before it is reported unreachable. */
export const START_GRACE_MS = 3_000;
/** A graceful QUIT waits this long at most (a stopped Redis never answers it). */
const QUIT_TIMEOUT_MS = 500;

type SendCommand = Redis['sendCommand'];

/** ioredis that tells the fuse about every command that timed out (its own probes excepted). */
class ObservedRedis extends Redis {
  onTimeout: (() => void) | undefined;
  /** Commands already observed: ioredis may pass one through sendCommand again (offline queue, resend). */
  readonly #seen = new WeakSet<Command>();
  readonly probes = new WeakSet<Command>();

  override sendCommand(command: Command, stream?: Parameters<SendCommand>[1]): unknown {
    const sent = super.sendCommand(command, stream);
    if (!this.#seen.has(command) && !this.probes.has(command)) {
      this.#seen.add(command);
      command.promise.catch((error: unknown) => {
        if (error instanceof Error && error.message === 'Command timed out') this.onTimeout?.();
      });
    }
    return sent;
  }
}

export class RedisConnection {
  /** For commands and scripts (and PUBLISH). Fails fast while Redis is down: check `isUp()` or catch. */
  readonly commands: Redis;
  readonly #client: ObservedRedis;
  /** Legacy (RESP2-shaped) replies, which every caller here reads. */
  readonly #options: RedisOptions & { replyMapping?: 'legacy' };
  readonly #url: URL;
  readonly #database: number;
  readonly #prefix: string;
  readonly #logger: Logger;
  readonly #listeners = new Set<(up: boolean) => void>();
  readonly #fuse: RedisFuse;
  #subscriber: Redis | null = null;
  /** Why Redis cannot be used now; null while it is up. */
  #problem: RedisProblem | null = { kind: 'unreachable', cause: 'connecting' };
  /** The last error the client reported, for the cause of the next close. Cleared when up. */
  #lastError: unknown;
  /** Whether the current outage (or the start-up's) was logged: once per outage. */
  #outageLogged = false;
  /** Until the first connection or START_GRACE_MS: an unreachable Redis is not reported yet. */
  #starting = true;
  readonly #startGrace: NodeJS.Timeout;
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
      // Connected below, once every listener is in place.
      lazyConnect: true,
    };
    // ioredis reads host, port, password, database and TLS (rediss:) from the URL itself.
    const client = new ObservedRedis(url.href, this.#options);
    this.#client = client;
    this.commands = client;
    this.#database = client.options.db ?? 0;
    this.#fuse = new RedisFuse({
      ping: () => this.#probe(),
      onBlown: () =>
        this.#setProblem({
          kind: 'not answering',
          cause: `no answer to a PING within ${PROBE_TIMEOUT_MS} ms, the connection open (a stopped or overloaded Redis?)`,
        }),
      onMended: () => this.#setProblem(null),
      // Both connections: a subscriber on the same dead socket would never hear another message (ioredis
      // subscribes again after the reconnect; a message missed meanwhile is caught up by the next lease tick).
      onHopeless: () => {
        client.disconnect(true);
        this.#subscriber?.disconnect(true);
      },
    });
    client.onTimeout = () => this.#fuse.commandTimedOut();
    client.on('ready', () => void this.#checkUsable());
    client.on('close', () => {
      this.#fuse.disarm();
      this.#setProblem(this.#lastError ? this.#describe(this.#lastError) : this.#closedProblem());
    });
    // Without a listener ioredis prints every failed reconnect to stderr. An error alone changes nothing (a
    // close or the usability check follows); it is kept as the cause, and a refusal is reported at once.
    client.on('error', (error: unknown) => {
      this.#lastError = error;
      const problem = this.#describe(error);
      if (problem.kind === 'unusable') this.#setProblem(problem);
    });
    this.#startGrace = setTimeout(() => {
      this.#starting = false;
      if (this.#problem) this.#logOutage(this.#problem);
    }, START_GRACE_MS);
    this.#startGrace.unref();
    client.connect().catch(() => {
      // Reported through 'error' and 'close'; the client keeps reconnecting.
    });
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
        lazyConnect: false,
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
    return this.#problem === null;
  }

  /** Why Redis is not used right now (for /readyz), or null while it is up. */
  problem(): RedisProblem | null {
    return this.#problem;
  }

  /** Called with true when Redis becomes usable, false when it goes away. Returns the unsubscribe function. */
  onStateChange(listener: (up: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    const usable = this.isUp();
    this.#closed = true;
    this.#listeners.clear();
    clearTimeout(this.#startGrace);
    this.#fuse.disarm();
    await Promise.all(
      [this.commands, this.#subscriber].map((client) => (client ? quit(client, usable) : undefined)),
    );
  }

  /**
   * After each (re)connection: selects REDIS_URL's database again and waits for the answer. A refusal makes the
   * URL unusable (with the cause); no answer at all means the connection is no good, so it is made anew.
   */
  async #checkUsable(): Promise<void> {
    const client = this.#client;
    try {
      await (this.#database === 0 ? client.ping() : client.select(this.#database));
    } catch (error) {
      if (isReplyError(error)) {
        const message = error instanceof Error ? error.message : String(error);
        this.#setProblem({ kind: 'unusable', cause: noSuchDatabase(this.#database, message) });
      } else if (client.status === 'ready') {
        client.disconnect(true);
      }
      return;
    }
    if (client.status !== 'ready') return;
    this.#lastError = undefined;
    this.#fuse.arm();
    this.#setProblem(null);
  }

  /** One PING for the fuse, with its own (long) timeout instead of the command timeout. */
  #probe(): Promise<unknown> {
    const command = new Command('ping', [], { replyEncoding: 'utf8' });
    // Set before sending: ioredis keeps the first timeout a command is given.
    command.setTimeout(PROBE_GIVE_UP_MS);
    this.#client.probes.add(command);
    this.#client.sendCommand(command);
    return command.promise;
  }

  #setProblem(problem: RedisProblem | null): void {
    if (this.#closed) return;
    const wasUp = this.#problem === null;
    this.#problem = problem;
    if (problem === null) {
      this.#starting = false;
      this.#outageLogged = false;
      if (!wasUp)
        this.#logger.info({ redis: this.#safeUrl() }, 'redis connected: sharing state with other instances');
    } else if (!(this.#starting && problem.kind === 'unreachable')) {
      this.#logOutage(problem);
    }
    if (wasUp !== (problem === null)) for (const listener of this.#listeners) listener(problem === null);
  }

  #logOutage(problem: RedisProblem): void {
    if (this.#outageLogged || this.#closed) return;
    this.#outageLogged = true;
    this.#logger.warn(
      { redis: this.#safeUrl(), cause: problem.cause },
      `redis ${problem.kind} (${problem.cause}): serving with in-process state and this instance's reserve of ` +
        `the budget until ${problem.kind === 'unusable' ? 'it accepts REDIS_URL' : 'it is back'}`,
    );
  }

  #describe(error: unknown): RedisProblem {
    return redisProblem(error, this.#url.host, this.#database);
  }

  #closedProblem(): RedisProblem {
    return { kind: 'unreachable', cause: `the connection to ${this.#url.host} was closed` };
  }

  /** The URL without credentials, for logs. */
  #safeUrl(): string {
    return `${this.#url.protocol}//${this.#url.host}${this.#url.pathname}`;
  }
}

/** ioredis' ReplyError: Redis answered, with an error. */
function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

/**
 * Graceful QUIT when connected and answering, bounded (a stopped Redis never answers it); otherwise, or if QUIT
 * fails, drop the socket and stop reconnecting.
 */
async function quit(client: Redis, answering: boolean): Promise<void> {
  if (client.status === 'ready' && answering) {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), QUIT_TIMEOUT_MS);
    });
    try {
      const quitted = await Promise.race([client.quit().then(() => true), timedOut]);
      if (quitted) return;
    } catch {
      // fall through to disconnect
    } finally {
      clearTimeout(timer);
    }
  }
  client.disconnect(false);
}

export function connectRedis(url: URL, prefix: string, logger: Logger): RedisConnection {
  return new RedisConnection(url, prefix, logger);
}
