/**
 * The one context factory: every GraphQL operation (HTTP, SSE, WebSocket, a report) and every route that calls
 * EPMware (the export download, OData) gets a new Context from `createContext`, built from the request's
 * `RequestInfo`. It carries the credential (checked here, once: a malformed Authorization is UNAUTHENTICATED before
 * anything runs, and EPMWARE_TOKEN never stands in for a client's typo) and the EPMware endpoints bound to it.
 * Pothos' dataloader plugin caches its loaders on this object, so loaders (and everything they fetched) live exactly
 * one request and never cross credentials.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from './config.ts';
import { UpstreamCallCounter } from './cost/call-counter.ts';
import { SecurityDirectory } from './directory.ts';
import { unauthenticated } from './errors.ts';
import type { RequestInfo } from './http/request-info.ts';
import type { Logger } from './observability/logger.ts';
import type { GatewayMetrics } from './observability/metrics.ts';
import type { RedisConnection } from './redis/connection.ts';
import type { TaskWatcher } from './tasks/task-watcher.ts';
import type { UploadSlots } from './upload-slots.ts';
import type { UpstreamClient } from './upstream/client.ts';
import { type Credential, resolveCredential } from './upstream/credential.ts';
import { Epmware } from './upstream/epmware.ts';

export type { RequestInfo } from './http/request-info.ts';

/** Long-lived parts the gateway builds once and every request shares (the entry points see them, resolvers not). */
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
  /** Set once SIGTERM starts the drain: /readyz answers 503 while everything else is still served. */
  lifecycle: { draining: boolean };
  /** Uploads in flight, capped per instance and per credential (MAX_CONCURRENT_UPLOADS*). */
  uploads: UploadSlots;
}

export interface Context {
  requestId: string;
  /** This gateway's origin as the client reached it, for links such as Task.downloadUrl. */
  origin: string;
  /** The configuration, for the limits resolvers check (MAX_UPLOAD_BYTES). */
  config: Config;
  credential: Credential | null;
  /** The endpoints bound to this request's credential, its call counter and client; UNAUTHENTICATED without one. */
  epmware(): Epmware;
  /** This request's users, groups and memberships, each fetched at most once. */
  directory: SecurityDirectory;
  /** This operation's upstream calls so far, refused past MAX_UPSTREAM_CALLS_PER_OPERATION (see cost/). */
  upstreamCalls: UpstreamCallCounter;
  /** Shared task pollers behind Subscription.taskUpdates. */
  taskWatcher: TaskWatcher;
}

/**
 * What every GraphQL execution is given by its transport (HTTP, a WebSocket operation, a report): the context's one
 * input, as Yoga's server context. Yoga's `context` turns it into the Context with `createContext`.
 */
export interface GraphQLServerContext {
  requestId: string;
  requestInfo: RequestInfo;
  /** A report's own query (routes/reports.ts): passes PERSISTED_DOCUMENTS_ONLY. Never set from a client request. */
  trustedReport?: boolean;
}

export function createContext(
  services: Services,
  request: RequestInfo,
  requestId: string = randomUUID(),
): Context {
  const { config, upstream, taskWatcher } = services;
  const credential = resolveCredential(request.authorization, config.epmwareToken);
  const upstreamCalls = new UpstreamCallCounter(config.maxUpstreamCallsPerOperation);
  let api: Epmware | undefined;
  const epmware = (): Epmware => {
    if (!credential) throw unauthenticated();
    api ??= new Epmware(upstream, credential, {
      counter: upstreamCalls,
      // Clients without a token of their own share EPMWARE_TOKEN's budget: each gets a fair share of it.
      clientKey: credential.serviceToken ? request.clientAddress : undefined,
    });
    return api;
  };
  // Built on first use: a subscription or a task query never needs it, and each costs memory per request.
  let directory: SecurityDirectory | undefined;
  return {
    requestId,
    origin: request.origin,
    config,
    credential,
    epmware,
    upstreamCalls,
    taskWatcher,
    get directory() {
      directory ??= new SecurityDirectory(epmware);
      return directory;
    },
  };
}
