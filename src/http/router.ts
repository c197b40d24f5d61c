/**
 * The one HTTP entry: every request gets its id, its access-log line and latency (by route template), then the route
 * that answers it. GraphQL goes to Yoga; the routes beside it (GraphiQL, the export download, reports, health and
 * metrics) are the handlers in routes/. The table below is the whole HTTP surface: a route added here is logged,
 * measured and traced like the others.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { traceRoute } from '../observability/tracing.ts';
import { logHttpExchange, REQUEST_ID_HEADER, requestIdFrom } from '../plugins/request-logging.ts';
import { sendJson } from '../routes/respond.ts';
import { type RequestInfo, requestInfoOf } from './request-info.ts';

/** What a route's handler is given besides the request and the response. */
export interface Exchange {
  requestId: string;
  /** The request as a context sees it (credential, origin, client address). */
  info: RequestInfo;
  /** The path's captures (e.g. the task id of /exports/{taskId}/file), decoded as the route's pattern matched them. */
  params: readonly string[];
}

export interface Route {
  /** Matches the path (without the query): a fixed path, a prefix (ending in `*`), or a pattern. */
  path: string | RegExp;
  /** The route as a template, for logs, metrics and spans: never an id or a name from the path. */
  template: string | ((params: readonly string[]) => string);
  /** Runs inside a SERVER span of its own (routes outside Yoga, whose own plugin spans GraphQL). */
  traced?: boolean;
  handle(req: IncomingMessage, res: ServerResponse, exchange: Exchange): void | Promise<void>;
}

export interface RouterOptions {
  routes: readonly Route[];
  logger: Logger;
  metrics: GatewayMetrics;
  trustProxy: boolean;
  /** A refusal before any route reads the request (the Host rule): true when it has answered. */
  refuse?: (req: IncomingMessage, res: ServerResponse, path: string) => boolean;
}

/** The template of the 404 answer: unknown paths never become label values. */
const UNMATCHED = '(unmatched)';

export function createRouter(options: RouterOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { routes, logger, metrics, trustProxy, refuse } = options;
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const requestId = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
    res.setHeader(REQUEST_ID_HEADER, requestId);
    const found = match(routes, path);
    const template = found
      ? typeof found.route.template === 'string'
        ? found.route.template
        : found.route.template(found.params)
      : UNMATCHED;
    logHttpExchange(logger, req, res, requestId, (status, seconds) =>
      metrics.httpRequestDuration.observe(
        { route: template, method: methodLabel(req.method), status_class: `${Math.floor(status / 100)}xx` },
        seconds,
      ),
    );
    if (refuse?.(req, res, path)) return;
    if (!found) {
      sendJson(res, 404, { code: 'NOT_FOUND', message: `No route for ${req.method} ${path}` });
      return;
    }
    const exchange: Exchange = { requestId, info: requestInfoOf(req, trustProxy), params: found.params };
    const handle = () => Promise.resolve(found.route.handle(req, res, exchange));
    const handled = found.route.traced ? traceRoute(template, req, res, handle) : handle();
    handled.catch((error: unknown) => {
      logger.error({ requestId, err: error, route: template }, 'route failed');
      if (!res.headersSent)
        sendJson(res, 500, { code: 'INTERNAL_SERVER_ERROR', message: 'Unexpected error.' });
      else res.destroy();
    });
  };
}

function match(routes: readonly Route[], path: string): { route: Route; params: string[] } | undefined {
  for (const route of routes) {
    if (typeof route.path === 'string') {
      if (route.path.endsWith('*') ? path.startsWith(route.path.slice(0, -1)) : path === route.path) {
        return { route, params: [] };
      }
      continue;
    }
    const captured = route.path.exec(path);
    if (captured) return { route, params: captured.slice(1).map((value) => value ?? '') };
  }
  return undefined;
}

/** Methods as metric labels: the ones the gateway answers, the rest as one value. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'OPTIONS']);
function methodLabel(method: string | undefined): string {
  return method && KNOWN_METHODS.has(method) ? method : 'other';
}
