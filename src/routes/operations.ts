/**
 * /healthz, /readyz and /metrics: what an operator (or an orchestrator) asks the process.
 * - /healthz: the process is alive and serving HTTP (no upstream involved, so a slow EPMware never gets a healthy
 *   gateway restarted).
 * - /readyz: EPMware's origin accepts a connection and not every service's circuit is open (the open ones are
 *   named). A TCP connect is the probe: it needs no token, spends no rate-limit budget and does not depend on
 *   which endpoint answers unauthenticated. The body also names Redis (REDIS_URL): `up`, `down` or
 *   `not configured`. Redis being down does not make the instance unready: it keeps serving with in-process state
 *   and its share of the budget (see src/redis/).
 * - /metrics: Prometheus text from the gateway's own registry (gateway_redis_up among them) and the process'
 *   runtime metrics.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Services } from '../context.ts';
import { SERVICES } from '../upstream/breaker.ts';
import { sendJson } from './respond.ts';

const PROBE_TIMEOUT_MS = 2_000;

/** Resolves true when a TCP connection to the upstream origin opens within the timeout. */
function canConnect(url: URL, timeoutMs: number): Promise<boolean> {
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (reachable: boolean) => {
      socket.destroy();
      resolve(reachable);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

interface Readiness {
  ready: boolean;
  upstream: string;
  /** closed: every service's circuit; open: all of them; partly open: some (see openServices). */
  circuit: 'closed' | 'open' | 'partly open';
  openServices: string[];
  redis: 'up' | 'down' | 'not configured';
}

/**
 * Circuits are per EPMware service: one service down (EPMware's "Deployment Service is not running") leaves the
 * gateway ready, since the others still answer; /readyz names it. Only every circuit open makes it not ready.
 */
async function readiness(services: Services): Promise<Readiness> {
  const openServices = services.upstream.openCircuits();
  const allOpen = openServices.length === SERVICES.length;
  const circuit = openServices.length === 0 ? 'closed' : allOpen ? 'open' : 'partly open';
  const redis = !services.redis ? 'not configured' : services.redis.isUp() ? 'up' : 'down';
  const url = services.config.epmwareUrl;
  if (allOpen || !url)
    return { ready: false, upstream: url ? 'not probed' : 'not configured', circuit, openServices, redis };
  const reachable = await canConnect(url, PROBE_TIMEOUT_MS);
  return {
    ready: reachable,
    upstream: reachable ? 'reachable' : 'unreachable',
    circuit,
    openServices,
    redis,
  };
}

export async function handleOperations(
  path: string,
  _req: IncomingMessage,
  res: ServerResponse,
  services: Services,
): Promise<boolean> {
  if (path === '/healthz') {
    sendJson(res, 200, { status: 'ok' });
    return true;
  }
  if (path === '/readyz') {
    const { ready, ...details } = await readiness(services);
    sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', ...details });
    return true;
  }
  if (path === '/metrics') {
    const { contentType, text } = await services.metrics.exposition();
    res.writeHead(200, { 'content-type': contentType });
    res.end(text);
    return true;
  }
  return false;
}
