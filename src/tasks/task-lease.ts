/**
 * The Redis side of one watched task, shared by every gateway instance with the same REDIS_URL: who polls it (a
 * lease), what it looked like last (so a late subscriber anywhere gets it at once), and the channel its changes
 * go out on. Three keys per (credential fingerprint, task), never the raw token, all with TTLs:
 *
 *   <prefix>task-poll:{<fingerprint>:<taskId>}:lease   the polling instance's id   SET NX PX, renewed by its holder
 *   <prefix>task-poll:{<fingerprint>:<taskId>}:last    hash v (version), task (JSON), final ('1' once terminal)
 *   <prefix>task-poll:{<fingerprint>:<taskId>}:events  pub/sub channel (see task-fanout.ts)
 *
 * The braces are a hash tag: on a Redis Cluster the three land in one slot, which the scripts below need. Each
 * step is one Lua script, so "am I still the holder?" and the write it guards happen atomically.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ErrorCode } from '../errors.ts';
import type { RedisConnection } from '../redis/connection.ts';
import type { EpmTaskStatus } from '../upstream/types.ts';

/** What travels on a task's channel. `version` orders status events against the `last` hash. */
export type TaskEvent =
  | { kind: 'status'; version: number; task: EpmTaskStatus }
  /** The holder's poller ended with an error (NOT_FOUND, or failures past the failure budget): so do all watches. */
  | { kind: 'end'; error: EndError }
  /** The holder let go of the lease (its last subscriber left): whoever still has subscribers takes over now. */
  | { kind: 'released' };

/** The error that ended a watch, as it crosses to other instances (no code: a gateway bug, masked there too). */
export interface EndError {
  code?: ErrorCode;
  message: string;
  upstreamStatus?: number;
  endpoint?: string;
}

/** One renewal round's answer. */
export interface LeaseTick {
  /** The instance that holds the lease now (null once the task is final: nobody needs to poll it). */
  holder: string | null;
  /** The `last` hash's version, and its task when that version is newer than the one the caller knows. */
  version: number;
  task: EpmTaskStatus | undefined;
  final: boolean;
}

/**
 * Take the lease when nobody holds it (SET NX PX), renew it when we do (and the `last` hash with it), and report
 * what `last` holds. A final task is never leased again.
 * KEYS: lease, last. ARGV: me, leaseTtlMs, knownVersion, lastTtlMs.
 */
const TICK = `
local final = redis.call('HGET', KEYS[2], 'final')
local holder = redis.call('GET', KEYS[1])
if final ~= '1' then
  if not holder then
    if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then holder = ARGV[1] end
  elseif holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    redis.call('PEXPIRE', KEYS[2], ARGV[4])
  end
else
  holder = false
end
local v = tonumber(redis.call('HGET', KEYS[2], 'v') or '0')
local task = ''
if v > tonumber(ARGV[3]) then task = redis.call('HGET', KEYS[2], 'task') or '' end
return {holder or '', v, task, final or ''}
`;

/**
 * The holder records a change and publishes it, in one step; anyone else gets -1 (it lost the lease).
 * KEYS: lease, last, channel. ARGV: me, taskJson, lastTtlMs, final ('1' or '0').
 */
const PUBLISH = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local v = redis.call('HINCRBY', KEYS[2], 'v', 1)
redis.call('HSET', KEYS[2], 'task', ARGV[2], 'final', ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', KEYS[3], '{"kind":"status","version":' .. v .. ',"task":' .. ARGV[2] .. '}')
return v
`;

/**
 * The holder lets go and says why, in one step (so nobody hears "released" from an instance that no longer held it).
 * KEYS: lease, channel. ARGV: me, eventJson.
 */
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', KEYS[2], ARGV[2])
return 1
`;

export interface TaskLeaseTiming {
  /** How long a lease lives without renewal: a dead holder is replaced after at most this plus one tick. */
  leaseTtlMs: number;
  /** How long the last status outlives its last write or renewal (late subscribers after the end get it). */
  lastTtlMs: number;
}

/** The lease, last status and channel of one (credential, task), as seen by one instance. */
export class TaskLease {
  readonly channel: string;
  readonly #redis: RedisConnection;
  readonly #me: string;
  readonly #timing: TaskLeaseTiming;
  readonly #leaseKey: string;
  readonly #lastKey: string;

  constructor(
    redis: RedisConnection,
    instanceId: string,
    fingerprint: string,
    taskId: string,
    timing: TaskLeaseTiming,
  ) {
    this.#redis = redis;
    this.#me = instanceId;
    this.#timing = timing;
    // encodeURIComponent: a task id is client input, and must not forge another key's shape with ':' or braces.
    const tag = `{${fingerprint}:${encodeURIComponent(taskId)}}`;
    this.#leaseKey = redis.key('task-poll', tag, 'lease');
    this.#lastKey = redis.key('task-poll', tag, 'last');
    this.channel = redis.key('task-poll', tag, 'events');
  }

  get instanceId(): string {
    return this.#me;
  }

  get ttlMs(): number {
    return this.#timing.leaseTtlMs;
  }

  /** Nothing is sent to a Redis that is down (unreachable, or not answering): callers fall back at once. */
  #ensureUp(): void {
    if (!this.#redis.isUp()) throw new Error('redis is down');
  }

  async tick(knownVersion: number): Promise<LeaseTick> {
    this.#ensureUp();
    const { leaseTtlMs, lastTtlMs } = this.#timing;
    const reply = await runScript(
      this.#redis.commands,
      TICK,
      [this.#leaseKey, this.#lastKey],
      [this.#me, leaseTtlMs, knownVersion, lastTtlMs],
    );
    const [holder, version, task, final] = Array.isArray(reply) ? reply : [];
    return {
      holder: typeof holder === 'string' && holder !== '' ? holder : null,
      version: typeof version === 'number' ? version : 0,
      task: typeof task === 'string' && task !== '' ? parseTask(task) : undefined,
      final: final === '1',
    };
  }

  /** The new version, or -1 when this instance no longer holds the lease (nothing was written). */
  async publish(task: EpmTaskStatus, final: boolean): Promise<number> {
    this.#ensureUp();
    const reply = await runScript(
      this.#redis.commands,
      PUBLISH,
      [this.#leaseKey, this.#lastKey, this.channel],
      [this.#me, JSON.stringify(slim(task)), this.#timing.lastTtlMs, final ? '1' : '0'],
    );
    return typeof reply === 'number' ? reply : -1;
  }

  /** Drops the lease if this instance holds it, telling the others why (`released`, or the error that ended it). */
  async release(event: Exclude<TaskEvent, { kind: 'status' }>): Promise<void> {
    this.#ensureUp();
    await runScript(
      this.#redis.commands,
      RELEASE,
      [this.#leaseKey, this.channel],
      [this.#me, JSON.stringify(event)],
    );
  }
}

/** A task status read back from Redis: only the fields the gateway uses, each checked. */
export function parseTask(text: string): EpmTaskStatus | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isTaskStatus(value) ? value : undefined;
}

export function isTaskStatus(value: unknown): value is EpmTaskStatus {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.taskId === 'string' && typeof record.status === 'string';
}

/** Only what subscribers see: whatever else EPMware put in the answer stays out of Redis. */
function slim(task: EpmTaskStatus): EpmTaskStatus {
  return {
    taskId: task.taskId,
    status: task.status,
    percentCompleted: task.percentCompleted ?? null,
    message: task.message ?? null,
  };
}

const shaOf = new Map<string, string>();

/** EVALSHA, falling back to EVAL once when this Redis has not seen the script (first use, or after a restart). */
async function runScript(
  redis: Redis,
  script: string,
  keys: string[],
  args: Array<string | number>,
): Promise<unknown> {
  let sha = shaOf.get(script);
  if (!sha) {
    sha = createHash('sha1').update(script).digest('hex');
    shaOf.set(script, sha);
  }
  try {
    return await redis.evalsha(sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return redis.eval(script, keys.length, ...keys, ...args);
  }
}
