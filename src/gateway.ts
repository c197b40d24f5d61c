/**
 * createGateway(config) composes the whole gateway — the shared services, Yoga, the HTTP routes and the WebSocket
 * transport — without listening; main.ts and the tests decide where it listens.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createYoga } from 'graphql-yoga';
import type { Config } from './config.ts';
import { type Context, createContext, type GraphQLServerContext, type Services } from './context.ts';
import { findGatewayError, maskGatewayError } from './errors.ts';
import { HostRule } from './http/host-rule.ts';
import { createRouter, type Route } from './http/router.ts';
import { createLogger, type LogDestination, yogaLogger } from './observability/logger.ts';
import { GatewayMetrics } from './observability/metrics.ts';
import type { ODataHandler } from './odata/route.ts';
import { corsPolicy } from './plugins/cors.ts';
import { gatewayPlugins } from './plugins/index.ts';
import { createSharedState } from './redis/shared-state.ts';
import {
  EXPORT_FILE_ROUTE,
  EXPORT_FILE_ROUTE_TEMPLATE,
  handleExportDownload,
} from './routes/export-download.ts';
import { graphiqlPage, isGraphiQLPageRequest, serveGraphiQLAsset } from './routes/graphiql.ts';
import { GRAPHIQL_ASSET_PREFIX, graphiqlOptions } from './routes/graphiql-page.ts';
import { handleProbe } from './routes/probes.ts';
import { REPORT_ROUTE, reportsHandler } from './routes/reports.ts';
import { schema } from './schema/index.ts';
import { enforceServerLimits, serverOptions } from './server-limits.ts';
import { TaskWatcher, type TaskWatcherTuning } from './tasks/task-watcher.ts';
import { EventStreams } from './transports/event-streams.ts';
import { attachWebSocket } from './transports/websocket.ts';
import { UploadSlots } from './upload-slots.ts';
import { UpstreamClient, type UpstreamTuning } from './upstream/client.ts';

export interface GatewayOptions {
  /** A token to pre-fill GraphiQL with: only ever the embedded simulator's demo token. */
  demoToken?: string;
  /** Upstream client knobs beyond the configuration (tests shorten windows; the benchmark's baseline). */
  upstream?: UpstreamTuning;
  /** Where JSON log lines go (default stdout); tests capture them here. */
  logStream?: LogDestination;
  /** Task poller knobs beyond the configuration (tests lower the poller cap). */
  tasks?: TaskWatcherTuning;
}

export interface Gateway {
  server: Server;
  /** With METRICS_PORT: the server of /metrics and the health routes (null without). */
  metricsServer: Server | null;
  services: Services;
  listen(port?: number, host?: string): Promise<URL>;
  /** SIGTERM's first step: /readyz answers 503 from now on; everything else is still served. */
  drain(): void;
  /** Stops accepting, ends subscriptions without `complete`, lets requests in flight finish, closes the rest. */
  close(): Promise<void>;
}

export function createGateway(config: Config, options: GatewayOptions = {}): Gateway {
  if (!config.epmwareUrl)
    throw new Error('createGateway needs config.epmwareUrl (main.ts starts the simulator)');
  const metrics = new GatewayMetrics();
  const logger = createLogger(config.logLevel, options.logStream);
  const { redis, budget, cache } = createSharedState(config, metrics, logger, options.upstream);
  const upstream = new UpstreamClient({
    baseUrl: config.epmwareUrl,
    timeoutMs: config.upstreamTimeoutMs,
    rateLimitPerMin: config.upstreamRateLimitPerMin,
    cacheTtlMs: config.cacheTtlMs,
    metrics,
    budget,
    cache,
    // The upload lane: as many connections as uploads may run at once, so an admitted upload never queues.
    uploadConnections: config.maxConcurrentUploads,
    ...options.upstream,
  });
  // One Redis connection (when REDIS_URL is set) for the budget, the cache and the task pollers alike.
  const taskWatcher = new TaskWatcher({
    upstream,
    metrics,
    intervalMs: config.taskPollIntervalMs,
    redis,
    maxPollers: config.maxWatchedTasks,
    maxPollersPerCredential: config.maxWatchedTasksPerCredential,
    ...options.tasks,
  });
  const uploads = new UploadSlots(config.maxConcurrentUploads, config.maxConcurrentUploadsPerCredential);
  const lifecycle = { draining: false };
  const services: Services = { config, upstream, metrics, taskWatcher, logger, redis, lifecycle, uploads };
  const eventStreams = new EventStreams();

  const yoga = createYoga<GraphQLServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // GraphiQL is served by routes/graphiql.ts (a small page, cacheable assets, a CSP), before Yoga sees the request.
    graphiql: false,
    context: ({ requestInfo, requestId }) => createContext(services, requestInfo, requestId),
    logging: yogaLogger(logger, (error) => findGatewayError(error) !== undefined),
    cors: corsPolicy(config.corsOrigins),
    batching: false,
    // Body limits are per content type instead: plugins/body-limit.ts for JSON (and every other non-multipart
    // body), plugins/streaming-uploads.ts for multipart (MAX_UPLOAD_BYTES). Yoga's own limit would pipe every body
    // through a TransformStream that nothing reads while an upload streams, holding the whole file in memory.
    maxRequestBodySize: false,
    maskedErrors: { maskError: maskGatewayError },
    plugins: gatewayPlugins(services),
  });

  // The OData feed (its parser alone is about 15 MB) is loaded by its first request: a gateway that no reporting
  // tool reads never pays for it.
  let odata: Promise<ODataHandler> | undefined;
  const serveOData: ODataHandler = async (req, res, requestId, info) => {
    odata ??= import('./odata/route.ts').then(({ odataHandler }) => odataHandler(services, schema));
    return (await odata)(req, res, requestId, info);
  };
  const serveReports = reportsHandler(services, schema);
  const serveGraphiQLPage = graphiqlPage(
    graphiqlOptions(options.demoToken ? { token: options.demoToken } : undefined),
  );
  const routes: Route[] = [
    {
      path: '/graphql',
      template: '/graphql',
      handle(req, res, { requestId, info }) {
        if (isGraphiQLPageRequest(req)) return serveGraphiQLPage(req, res);
        eventStreams.track(req, res);
        return yoga(req, res, { requestId, requestInfo: info });
      },
    },
    {
      path: `${GRAPHIQL_ASSET_PREFIX}*`,
      template: `${GRAPHIQL_ASSET_PREFIX}{file}`,
      handle: (req, res) => serveGraphiQLAsset((req.url ?? '/').split('?')[0] ?? '/', req, res),
    },
    {
      path: EXPORT_FILE_ROUTE,
      template: EXPORT_FILE_ROUTE_TEMPLATE,
      traced: true,
      handle: (req, res, { requestId, info, params }) =>
        handleExportDownload(params[0] ?? '', req, res, services, requestId, info),
    },
    {
      path: REPORT_ROUTE,
      // The report (an id or a name) is left out; `/reports` alone is the catalog.
      template: (params) => (params[1] ? `/reports/{documentId}.${params[1]}` : '/reports'),
      // The report's query runs through Yoga inside the route's span: Yoga's request span is its child.
      traced: true,
      handle: (req, res, { requestId, info }) =>
        serveReports(
          reportMatch(req),
          req,
          res,
          async (request, authorization) =>
            // trustedReport: the report's own queries (built in, or a manifest query paged) pass
            // PERSISTED_DOCUMENTS_ONLY; no client can set it.
            yoga.fetch(request, { requestId, requestInfo: { ...info, authorization }, trustedReport: true }),
          info.origin,
        ),
    },
    {
      // `/odata` and everything below it.
      path: /^\/odata(?:\/.*)?$/,
      template: '/odata',
      traced: true,
      handle: (req, res, { requestId, info }) => serveOData(req, res, requestId, info),
    },
  ];
  // The operator's routes: on the public port, or with METRICS_PORT on a port of their own (health routes on both,
  // since a load balancer probes the public one).
  const operatorRoutes = ['/healthz', '/readyz', '/metrics'].map(
    (path): Route => ({
      path,
      template: path,
      handle: async (req, res) => {
        await handleProbe(path, req, res, services);
      },
    }),
  );
  const separateMetrics = config.metricsPort !== null;
  // Before any route reads the request: EPMWARE_TOKEN is lent only to the hosts the contract names.
  const hostRule = new HostRule(config);
  const routerOptions = {
    logger,
    metrics,
    trustProxy: config.trustProxy,
    refuse: (req: IncomingMessage, res: ServerResponse, path: string) => hostRule.refuseHttp(req, res, path),
  };
  const limits = {
    headersTimeoutMs: config.httpHeadersTimeoutMs,
    requestTimeoutMs: config.httpRequestTimeoutMs,
    maxConnections: config.maxConnections,
  };
  const server = createServer(
    serverOptions(limits),
    createRouter({
      ...routerOptions,
      routes: [...routes, ...operatorRoutes.filter((route) => !separateMetrics || route.path !== '/metrics')],
    }),
  );
  const metricsServer = separateMetrics
    ? createServer(createRouter({ ...routerOptions, routes: operatorRoutes }))
    : null;
  enforceServerLimits(server, limits);
  const webSocket = attachWebSocket(server, yoga, services);

  return {
    server,
    metricsServer,
    services,
    async listen(port = config.port, host = config.host) {
      if (metricsServer) await listenOn(metricsServer, config.metricsPort ?? 0, host);
      return new URL('/graphql', await listenOn(server, port, host));
    },
    drain() {
      lifecycle.draining = true;
    },
    async close() {
      lifecycle.draining = true;
      // Stop accepting first. Then end what is long-lived (subscriptions) without `complete`: a WebSocket closes
      // with 1012 and an SSE stream is cut, so that clients reconnect (to another instance) and get their task's
      // current status at once; a subscription completes only at its task's terminal state. Then wait for the
      // requests in flight, and only then close the upstream pool they use. main.ts bounds the whole by a deadline.
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      await webSocket.close();
      eventStreams.cut();
      // Pollers stop; a watch no transport holds any more ends here.
      await taskWatcher.close();
      // A keep-alive connection that finishes its last request after close() began would otherwise linger.
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      server.closeIdleConnections();
      await drained.finally(() => clearInterval(sweep));
      if (metricsServer?.listening) {
        await new Promise<void>((resolve) => {
          metricsServer.close(() => resolve());
          metricsServer.closeAllConnections();
        });
      }
      await upstream.close();
      await redis?.close();
    },
  };
}

function reportMatch(req: IncomingMessage): RegExpExecArray {
  const match = REPORT_ROUTE.exec((req.url ?? '/').split('?')[0] ?? '/');
  if (!match) throw new Error('the reports route ran for a path it does not match');
  return match;
}

/** Listens, and resolves with the origin it listens on (an IPv6 address in brackets). */
function listenOn(server: Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve(`http://${shownHost}:${address.port}`);
    });
  });
}
