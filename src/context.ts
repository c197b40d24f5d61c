/**
 * A new context per request: the credential it carries and the EPMware endpoints bound to it. Pothos' dataloader
 * plugin caches its loaders on this object, so loaders (and everything they fetched) live exactly one request and
 * never cross credentials.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from './config.ts';
import { countedCalls, UpstreamCallCounter } from './demand/call-counter.ts';
import { SecurityDirectory } from './directory.ts';
import { unauthenticated } from './errors.ts';
import type { Logger } from './observability/logger.ts';
import type { GatewayMetrics } from './observability/metrics.ts';
import type { RedisConnection } from './redis/connection.ts';
import type { TaskWatcher } from './tasks/task-watcher.ts';
import type { UploadSlots } from './upload-slots.ts';
import type { UpstreamClient } from './upstream/client.ts';
import { type Credential, resolveCredential } from './upstream/credential.ts';
import { Epmware } from './upstream/epmware.ts';

/** Long-lived parts the gateway builds once and every request shares. */
export interface Services {
  config: Config;
  upstream: UpstreamClient;
  metrics: GatewayMetrics;
  /** Structured JSON logs; never handed a token, a header or a variable. */
  logger: Logger;
  /** Shared task pollers behind Subscription.taskUpdates. */
  taskWatcher: TaskWatcher;
  /** REDIS_URL's connection (null without it): state shared with the other instances. */
  redis: RedisConnection | null;
  /** Uploads in flight, capped per instance and per credential (MAX_CONCURRENT_UPLOADS*). */
  uploads: UploadSlots;
}

export interface Context {
  requestId: string;
  /** This gateway's origin as the client reached it, for links such as Task.downloadUrl. */
  origin: string;
  services: Services;
  credential: Credential | null;
  /** The endpoints bound to this request's credential; UNAUTHENTICATED when it has none. */
  epmware(): Epmware;
  /** This request's users, groups and memberships, each fetched at most once. */
  directory: SecurityDirectory;
  /** This operation's upstream calls so far, refused past MAX_UPSTREAM_CALLS_PER_OPERATION (see demand/). */
  upstreamCalls: UpstreamCallCounter;
}

export function createContext(
  services: Services,
  request: { authorization: string | null | undefined; origin: string },
  requestId: string = randomUUID(),
): Context {
  const { authorization, origin } = request;
  // A malformed Authorization throws UNAUTHENTICATED here, at the edge: the whole request is refused before any
  // resolver runs, so nothing reaches EPMware and EPMWARE_TOKEN never stands in for a client's typo.
  const credential = resolveCredential(authorization, services.config.epmwareToken);
  let api: Epmware | undefined;
  const upstreamCalls = new UpstreamCallCounter(services.config.maxUpstreamCallsPerOperation);
  const epmware = (): Epmware => {
    if (!credential) throw unauthenticated();
    api ??= new Epmware(countedCalls(services.upstream, upstreamCalls), credential);
    return api;
  };
  // Built on first use: a subscription or a task query never needs it, and each costs memory per request.
  let directory: SecurityDirectory | undefined;
  return {
    requestId,
    origin,
    services,
    credential,
    epmware,
    upstreamCalls,
    get directory() {
      directory ??= new SecurityDirectory(epmware);
      return directory;
    },
  };
}
