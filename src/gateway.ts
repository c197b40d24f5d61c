/**
 * createGateway(config) builds the whole HTTP surface — GraphQL (HTTP, SSE, WebSocket), the export download route,
 * health and metrics — without listening; main.ts and the tests decide where it listens.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createYoga } from 'graphql-yoga';
import type { Config } from './config.ts';
import { type Context, createContext, type Services } from './context.ts';
import { findGatewayError, maskGatewayError } from './errors.ts';
import { GRAPHIQL_ASSET_PREFIX, graphiqlOptions } from './graphiql.ts';
import { createLogger, type LogDestination, yogaLogger } from './observability/logger.ts';
import { GatewayMetrics } from './observability/metrics.ts';
import { traceRoute } from './observability/tracing.ts';
import { corsPolicy } from './plugins/cors.ts';
import { gatewayPlugins } from './plugins/index.ts';
import { logHttpExchange, REQUEST_ID_HEADER, requestIdFrom } from './plugins/request-logging.ts';
import { publicOrigin } from './public-origin.ts';
import { createSharedState } from './redis/shared-state.ts';
import {
  EXPORT_FILE_ROUTE,
  EXPORT_FILE_ROUTE_TEMPLATE,
  handleExportDownload,
} from './routes/export-download.ts';
import { graphiqlPage, isGraphiQLPageRequest, serveGraphiQLAsset } from './routes/graphiql.ts';
import { handleOperations } from './routes/operations.ts';
import { handleReport, REPORT_ROUTE, reportRouteTemplate } from './routes/reports.ts';
import { sendJson } from './routes/respond.ts';
import { schema } from './schema/index.ts';
import { enforceServerLimits, serverOptions } from './server-limits.ts';
import { TaskWatcher, type TaskWatcherTuning } from './tasks/task-watcher.ts';
import { attachWebSocket, webSocketContext } from './transports/websocket.ts';
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
  services: Services;
  listen(port?: number, host?: string): Promise<URL>;
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
    ...options.tasks,
  });
  const uploads = new UploadSlots(config.maxConcurrentUploads, config.maxConcurrentUploadsPerCredential);
  const services: Services = { config, upstream, metrics, taskWatcher, logger, redis, uploads };

  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // GraphiQL is served by routes/graphiql.ts (a small page, cacheable assets, a CSP), before Yoga sees the request.
    graphiql: false,
    // WebSocket operations have no fetch Request: their transport builds the Context from connection_init.
    context: (initial) =>
      webSocketContext(initial) ??
      createContext(
        services,
        {
          authorization: initial.request.headers.get('authorization'),
          origin: publicOrigin(initial.request.url, initial.request.headers, config.trustProxy),
        },
        typeof initial.requestId === 'string' ? initial.requestId : undefined,
      ),
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

  const serveGraphiQLPage = graphiqlPage(
    graphiqlOptions(options.demoToken ? { token: options.demoToken } : undefined),
  );
  const limits = {
    headersTimeoutMs: config.httpHeadersTimeoutMs,
    requestTimeoutMs: config.httpRequestTimeoutMs,
    maxConnections: config.maxConnections,
  };
  const server = createServer(serverOptions(limits), (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const requestId = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
    res.setHeader(REQUEST_ID_HEADER, requestId);
    logHttpExchange(logger, req, res, requestId);
    if (path === '/graphql' && isGraphiQLPageRequest(req)) return serveGraphiQLPage(req, res);
    if (path === '/graphql') return void yoga(req, res, { requestId });
    if (path.startsWith(GRAPHIQL_ASSET_PREFIX)) return void serveGraphiQLAsset(path, req, res);
    const download = EXPORT_FILE_ROUTE.exec(path);
    if (download?.[1]) {
      const taskId = download[1];
      return void traceRoute(EXPORT_FILE_ROUTE_TEMPLATE, req, res, () =>
        handleExportDownload(taskId, req, res, services),
      );
    }
    const report = REPORT_ROUTE.exec(path);
    if (report) {
      // The report's query runs through Yoga inside the route's span: Yoga's request span is its child.
      return void traceRoute(reportRouteTemplate(report), req, res, () =>
        handleReport(report, req, res, services, async (request) => yoga.fetch(request, { requestId })),
      );
    }
    void handleOperations(path, req, res, services).then((handled) => {
      if (!handled) sendJson(res, 404, { code: 'NOT_FOUND', message: `No route for ${req.method} ${path}` });
    });
  });
  enforceServerLimits(server, limits);
  const webSocket = attachWebSocket(server, yoga, services);

  return {
    server,
    services,
    listen(port = config.port, host = config.host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const address = server.address() as AddressInfo;
          const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          resolve(new URL(`http://${shownHost}:${address.port}/graphql`));
        });
      });
    },
    async close() {
      // Stop accepting first; then end what is long-lived (subscriptions); then wait for in-flight requests, and
      // only then close the upstream pool they use. main.ts bounds the whole by a deadline.
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      // Subscribers get `complete` and pollers stop before any socket goes away.
      await taskWatcher.close();
      await webSocket.close();
      // A keep-alive connection that finishes its last request after close() began would otherwise linger.
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      server.closeIdleConnections();
      await drained.finally(() => clearInterval(sweep));
      await upstream.close();
      await redis?.close();
    },
  };
}
