/**
 * Configuration from the environment, exactly as the contract lists it. A bad value stops start-up with one line
 * naming the variable: a gateway that starts half-configured fails later, in front of a user.
 */
import { loadPersistedDocuments, ManifestError, PersistedDocuments } from './persisted/manifest.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Config {
  /** null: start the embedded simulator and use it (EPMWARE_URL unset, or `simulator`). Never ends in /service/api:
   * the upstream client adds that itself. */
  epmwareUrl: URL | null;
  /** EPMWARE_URL=simulator: the embedded simulator asked for by name, which the production entry accepts. */
  simulatorRequested: boolean;
  epmwareToken: string | null;
  port: number;
  host: string;
  /** SHUTDOWN_DRAIN_MS: after SIGTERM, how long /readyz answers 503 while everything is still served. */
  shutdownDrainMs: number;
  /** METRICS_PORT: /metrics (and the health routes) on a port of their own, which the load balancer does not
   * expose; /metrics then answers 404 on the public port. null: everything on PORT. */
  metricsPort: number | null;
  taskPollIntervalMs: number;
  upstreamTimeoutMs: number;
  upstreamRateLimitPerMin: number;
  maxUploadBytes: number;
  /** An upload slower than this, averaged over uploadRateWindowMs, is cut off (a trickling client). */
  uploadMinBytesPerSec: number;
  uploadRateWindowMs: number;
  cacheTtlMs: number;
  /** OTEL_EXPORTER_OTLP_ENDPOINT (or its traces-only variant): where traces go; null turns tracing off. The
   * OpenTelemetry SDK reads these and the other OTEL_* variables itself; they are checked here so a bad one stops
   * start-up like any other. */
  otlpEndpoint: URL | null;
  corsOrigins: string[];
  introspection: boolean;
  logLevel: LogLevel;
  /** TRUST_PROXY: build public links (Task.downloadUrl) from Forwarded / X-Forwarded-* headers. */
  trustProxy: boolean;
  /** The most upstream calls one GraphQL operation may cause: estimated before execution, counted during it. */
  maxUpstreamCallsPerOperation: number;
  /** REDIS_URL: null keeps every piece of state in-process (one instance). */
  redisUrl: URL | null;
  /** REDIS_KEY_PREFIX: the namespace of every key this gateway writes. */
  redisKeyPrefix: string;
  /** GATEWAY_INSTANCES: how many reserves the shared budget holds, one per instance (src/redis/budget-split.ts). */
  gatewayInstances: number;
  /** REDIS_REQUIRED: not ready (/readyz 503) while Redis is down, instead of serving unshared. */
  redisRequired: boolean;
  /** MAX_WATCHED_TASKS: the most tasks this instance watches for subscribers at once. */
  maxWatchedTasks: number;
  /** MAX_WATCHED_TASKS_PER_CREDENTIAL: the most of those one credential may hold. */
  maxWatchedTasksPerCredential: number;
  /** PERSISTED_DOCUMENTS, loaded and checked at start-up (empty when unset). */
  persistedDocuments: PersistedDocuments;
  /** PERSISTED_DOCUMENTS_ONLY: refuse every document that is not in the manifest (introspection excepted). */
  persistedDocumentsOnly: boolean;
  /** ALLOWED_HOSTS: the host names (`name` or `name:port`, lower case) this gateway is reached by; `*` for any;
   * null when unset. See host-rule.ts. */
  allowedHosts: readonly string[] | null;
  /** MAX_CONCURRENT_UPLOADS: uploads one instance streams to EPMware at once (also its upload connections). */
  maxConcurrentUploads: number;
  /** MAX_CONCURRENT_UPLOADS_PER_CREDENTIAL: of those, how many one credential may hold. */
  maxConcurrentUploadsPerCredential: number;
  /** HTTP_HEADERS_TIMEOUT_MS: a client must have sent a request's headers within this. */
  httpHeadersTimeoutMs: number;
  /** HTTP_REQUEST_TIMEOUT_MS: ... and its whole body within this (uploads excepted: their pace bounds them). */
  httpRequestTimeoutMs: number;
  /** MAX_CONNECTIONS: open client connections per instance; beyond it a connection is answered 503 at once. */
  maxConnections: number;
  /** MAX_WEBSOCKETS: open WebSockets per instance; beyond it an upgrade is answered 503. */
  maxWebSockets: number;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/** Why a few seconds: long enough to absorb a dashboard's burst of identical reads, short enough that data
 * edited in EPMware's own UI shows up before a person notices. */
export const DEFAULT_CACHE_TTL_MS = 5_000;

type Env = Record<string, string | undefined>;

function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === '' ? undefined : value;
}

function integer(
  env: Env,
  name: string,
  fallback: number,
  { min, max }: { min: number; max?: number },
): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min) throw new ConfigError(name, `must be at least ${min}, got ${raw}`);
  if (max !== undefined && value > max) throw new ConfigError(name, `must be at most ${max}, got ${raw}`);
  return value;
}

/**
 * A URL of one of `schemes`. `echoValue: false` for values that may carry a password (REDIS_URL): the error then
 * names the variable, not the value.
 */
function schemeUrl(
  env: Env,
  name: string,
  schemes: readonly string[],
  expected: string,
  echoValue = true,
): URL | null {
  const raw = read(env, name);
  if (raw === undefined) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, echoValue ? `not a URL: "${raw}"` : 'not a URL');
  }
  if (!schemes.includes(url.protocol)) {
    throw new ConfigError(name, `must be ${expected}, got "${url.protocol}"`);
  }
  return url;
}

function httpUrl(env: Env, name: string): URL | null {
  return schemeUrl(env, name, ['http:', 'https:'], 'an http(s) URL');
}

/** The value of EPMWARE_URL that asks for the embedded simulator explicitly (the production entry's opt-in). */
export const SIMULATOR_URL_VALUE = 'simulator';

/** EPMware documents its endpoints under /service/api; people paste either the instance's base or that URL. */
const API_PATH = /\/service\/api\/*$/i;

function epmwareUrl(env: Env, name: string): URL | null {
  if (read(env, name)?.toLowerCase() === SIMULATOR_URL_VALUE) return null;
  const url = httpUrl(env, name);
  if (url === null) return null;
  if (url.search !== '' || url.hash !== '') {
    throw new ConfigError(
      name,
      `must be the instance's base URL without a query or fragment, got "${url.href}"`,
    );
  }
  url.pathname = url.pathname.replace(API_PATH, '').replace(/\/+$/, '');
  return url;
}

function redisUrl(env: Env, name: string): URL | null {
  return schemeUrl(env, name, ['redis:', 'rediss:'], 'a redis:// or rediss:// URL', false);
}

function keyPrefix(env: Env, name: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return 'epmware-gateway:';
  if (/\s/.test(raw)) throw new ConfigError(name, `must not contain spaces, got "${raw}"`);
  return raw;
}

function origins(env: Env, name: string): string[] {
  const raw = read(env, name);
  if (raw === undefined) return [];
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => {
      let url: URL;
      try {
        url = new URL(item);
      } catch {
        throw new ConfigError(name, `not an origin: "${item}"`);
      }
      if (url.origin === 'null' || `${url.origin}` !== item.replace(/\/$/, '')) {
        throw new ConfigError(name, `not an origin (scheme://host[:port]): "${item}"`);
      }
      return url.origin;
    });
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = read(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

function logLevel(env: Env, name: string): LogLevel {
  const raw = read(env, name)?.toLowerCase() ?? 'info';
  if (raw === 'debug' || raw === 'info' || raw === 'warn' || raw === 'error') return raw;
  throw new ConfigError(name, `expected debug, info, warn or error, got "${raw}"`);
}

function host(env: Env, name: string): string {
  const raw = read(env, name) ?? '127.0.0.1';
  if (/[\s/]/.test(raw)) throw new ConfigError(name, `not a host name or address: "${raw}"`);
  return raw;
}

/** The OTLP protocols the gateway ships exporters for and tests: JSON and protobuf over HTTP. */
const OTLP_PROTOCOLS = ['http/json', 'http/protobuf'];

function otlpEndpoint(env: Env): URL | null {
  for (const name of ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL']) {
    const raw = read(env, name);
    if (raw !== undefined && !OTLP_PROTOCOLS.includes(raw)) {
      throw new ConfigError(name, `expected ${OTLP_PROTOCOLS.join(' or ')}, got "${raw}"`);
    }
  }
  const tracesOnly = httpUrl(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  return httpUrl(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') ?? tracesOnly;
}

function persistedDocuments(env: Env, name: string): PersistedDocuments {
  const path = read(env, name);
  if (path === undefined) return new PersistedDocuments();
  try {
    return loadPersistedDocuments(path);
  } catch (error) {
    if (error instanceof ManifestError) throw new ConfigError(name, error.message);
    throw error;
  }
}

function persistedDocumentsOnly(env: Env, name: string, manifest: PersistedDocuments): boolean {
  const only = boolean(env, name, false);
  // Only-persisted with no manifest would refuse every operation: surely a deployment mistake.
  if (only && manifest.size === 0)
    throw new ConfigError(name, 'needs PERSISTED_DOCUMENTS with at least one document');
  return only;
}

/** `name`, `name:port`, `[v6]` or `[v6]:port`. */
const HOST_ENTRY = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/;

function allowedHosts(env: Env, name: string): string[] | null {
  const raw = read(env, name);
  if (raw === undefined) return null;
  return raw
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter((item) => item !== '')
    .map((item) => {
      if (item === '*') return item;
      const [, host = '', port] = HOST_ENTRY.exec(item) ?? [];
      let hostname: string;
      try {
        hostname = new URL(`http://${host}`).hostname;
      } catch {
        hostname = '';
      }
      // A host name the URL parser keeps as written (IDNs are given in their xn-- form, as Host headers carry them).
      if (hostname === '' || hostname !== host || (port !== undefined && Number(port) > 65_535)) {
        throw new ConfigError(name, `not a host name or host:port: "${item}"`);
      }
      return port === undefined ? hostname : `${hostname}:${port}`;
    });
}

/** REDIS_REQUIRED without REDIS_URL could never be ready: surely a deployment mistake. */
function redisRequired(env: Env, name: string, url: URL | null): boolean {
  const required = boolean(env, name, false);
  if (required && url === null) throw new ConfigError(name, 'needs REDIS_URL');
  return required;
}

/** The server's timeouts; Node refuses a header timeout longer than the request timeout, so this names the fix. */
function httpTimeouts(env: Env): Pick<Config, 'httpHeadersTimeoutMs' | 'httpRequestTimeoutMs'> {
  const httpHeadersTimeoutMs = integer(env, 'HTTP_HEADERS_TIMEOUT_MS', 10_000, { min: 1 });
  const httpRequestTimeoutMs = integer(env, 'HTTP_REQUEST_TIMEOUT_MS', 30_000, { min: 1 });
  if (httpHeadersTimeoutMs > httpRequestTimeoutMs) {
    throw new ConfigError(
      'HTTP_HEADERS_TIMEOUT_MS',
      `must be at most HTTP_REQUEST_TIMEOUT_MS (${httpRequestTimeoutMs}), got ${httpHeadersTimeoutMs}`,
    );
  }
  return { httpHeadersTimeoutMs, httpRequestTimeoutMs };
}

export function loadConfig(env: Env): Config {
  const manifest = persistedDocuments(env, 'PERSISTED_DOCUMENTS');
  const redis = redisUrl(env, 'REDIS_URL');
  const maxWatchedTasks = integer(env, 'MAX_WATCHED_TASKS', 10_000, { min: 1 });
  return {
    epmwareUrl: epmwareUrl(env, 'EPMWARE_URL'),
    simulatorRequested: read(env, 'EPMWARE_URL')?.toLowerCase() === SIMULATOR_URL_VALUE,
    epmwareToken: read(env, 'EPMWARE_TOKEN') ?? null,
    port: integer(env, 'PORT', 4000, { min: 0, max: 65_535 }),
    host: host(env, 'HOST'),
    shutdownDrainMs: integer(env, 'SHUTDOWN_DRAIN_MS', 5_000, { min: 0 }),
    metricsPort:
      read(env, 'METRICS_PORT') === undefined
        ? null
        : integer(env, 'METRICS_PORT', 0, { min: 0, max: 65_535 }),
    taskPollIntervalMs: integer(env, 'TASK_POLL_INTERVAL_MS', 2_000, { min: 50 }),
    upstreamTimeoutMs: integer(env, 'UPSTREAM_TIMEOUT_MS', 30_000, { min: 1 }),
    upstreamRateLimitPerMin: integer(env, 'UPSTREAM_RATE_LIMIT_PER_MIN', 100, { min: 1 }),
    maxUploadBytes: integer(env, 'MAX_UPLOAD_BYTES', 52_428_800, { min: 1 }),
    uploadMinBytesPerSec: integer(env, 'UPLOAD_MIN_BYTES_PER_SEC', 1_024, { min: 0 }),
    uploadRateWindowMs: integer(env, 'UPLOAD_RATE_WINDOW_MS', 30_000, { min: 10 }),
    cacheTtlMs: integer(env, 'CACHE_TTL_MS', DEFAULT_CACHE_TTL_MS, { min: 0 }),
    otlpEndpoint: otlpEndpoint(env),
    corsOrigins: origins(env, 'CORS_ORIGINS'),
    introspection: boolean(env, 'INTROSPECTION', true),
    logLevel: logLevel(env, 'LOG_LEVEL'),
    trustProxy: boolean(env, 'TRUST_PROXY', false),
    maxUpstreamCallsPerOperation: integer(env, 'MAX_UPSTREAM_CALLS_PER_OPERATION', 50, { min: 1 }),
    redisUrl: redis,
    redisKeyPrefix: keyPrefix(env, 'REDIS_KEY_PREFIX'),
    gatewayInstances: integer(env, 'GATEWAY_INSTANCES', 1, { min: 1 }),
    redisRequired: redisRequired(env, 'REDIS_REQUIRED', redis),
    maxWatchedTasks,
    // At most the instance's cap: a larger per-credential quota would mean nothing.
    maxWatchedTasksPerCredential: Math.min(
      maxWatchedTasks,
      integer(env, 'MAX_WATCHED_TASKS_PER_CREDENTIAL', 1_000, { min: 1 }),
    ),
    persistedDocuments: manifest,
    persistedDocumentsOnly: persistedDocumentsOnly(env, 'PERSISTED_DOCUMENTS_ONLY', manifest),
    allowedHosts: allowedHosts(env, 'ALLOWED_HOSTS'),
    maxConcurrentUploads: integer(env, 'MAX_CONCURRENT_UPLOADS', 8, { min: 1 }),
    maxConcurrentUploadsPerCredential: integer(env, 'MAX_CONCURRENT_UPLOADS_PER_CREDENTIAL', 2, { min: 1 }),
    ...httpTimeouts(env),
    maxConnections: integer(env, 'MAX_CONNECTIONS', 4_096, { min: 1 }),
    maxWebSockets: integer(env, 'MAX_WEBSOCKETS', 1_024, { min: 1 }),
  };
}

/**
 * Every variable loadConfig reads, found by running it once over an environment that records each name it is
 * asked for: the one list, which cannot drift from the readers above. The deployment files (deploy/) are checked
 * against it. A variable read only when another one is set would be missed, so each reader reads unconditionally.
 */
export const CONFIG_VARIABLES: readonly string[] = (() => {
  const names = new Set<string>();
  const recorder = new Proxy<Env>(
    {},
    {
      get(_target, name) {
        if (typeof name === 'string') names.add(name);
        return undefined;
      },
    },
  );
  loadConfig(recorder);
  return [...names];
})();
