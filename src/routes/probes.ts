/**
 * /healthz, /readyz and /metrics: what an operator (or an orchestrator) asks the process.
 * - /healthz: the process is alive and serving HTTP (no upstream involved, so a slow EPMware never gets a healthy
 *   gateway restarted).
 * - /readyz: EPMWARE_URL answers as EPMware does (startup-probe.ts: one unauthenticated GET of a documented
 *   endpoint, which must get EPMware's JSON 401; no token, no budget) and not every service's circuit is open (the
 *   open ones are named). A wrong path, an HTML page or no answer is named in `upstream`, and the instance is not
 *   ready. The verdict is reused for PROBE_CACHE_MS, so a load balancer polling every second costs EPMware one
 *   request per instance every few seconds. The body also names Redis (REDIS_URL): `up`, `down` (with
 *   `redisCause`: unreachable, refused, not answering) or `not configured`. Redis being down does not make the
 *   instance unready (it serves with in-process state and its reserve of the budget, see src/redis/), unless
 *   REDIS_REQUIRED=true, for operators who prefer fewer shared instances over unshared ones.
 * - /metrics: Prometheus text from the gateway's own registry (gateway_redis_up among them) and the process'
 *   runtime metrics.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Services } from '../context.ts';
import { type ProbeResult, probeUpstream } from '../startup-probe.ts';
import { SERVICES } from '../upstream/breaker.ts';
import { sendJson } from './respond.ts';

const PROBE_TIMEOUT_MS = 2_000;
/** How long a probe's verdict answers /readyz (the probe in flight is shared, too). */
export const PROBE_CACHE_MS = 5_000;

/** The latest probe per gateway (Services is one per gateway): one entry each, gone with the gateway. */
const probes = new WeakMap<Services, { startedAt: number; result: Promise<ProbeResult> }>();

function upstreamVerdict(services: Services, url: URL): Promise<ProbeResult> {
  const cached = probes.get(services);
  if (cached && Date.now() - cached.startedAt < PROBE_CACHE_MS) return cached.result;
  const result = probeUpstream(url, PROBE_TIMEOUT_MS);
  probes.set(services, { startedAt: Date.now(), result });
  return result;
}

interface Readiness {
  ready: boolean;
  /** reachable, unreachable, `not EPMware: GET … answered 404`, not probed, not configured. */
  upstream: string;
  /** closed: every service's circuit; open: all of them; partly open: some (see openServices). */
  circuit: 'closed' | 'open' | 'partly open';
  openServices: string[];
  redis: 'up' | 'down' | 'not configured';
  /** Why Redis is down (only then). */
  redisCause?: string;
}

/**
 * Circuits are per EPMware service: one service down (EPMware's "Deployment Service is not running") leaves the
 * gateway ready, since the others still answer; /readyz names it. Only every circuit open makes it not ready.
 */
async function readiness(services: Services): Promise<Readiness> {
  const openServices = services.upstream.openCircuits();
  const allOpen = openServices.length === SERVICES.length;
  const circuit = openServices.length === 0 ? 'closed' : allOpen ? 'open' : 'partly open';
  const problem = services.redis?.problem() ?? null;
  const redis: Readiness['redis'] = !services.redis ? 'not configured' : problem ? 'down' : 'up';
  const redisState: Pick<Readiness, 'redis' | 'redisCause'> = problem
    ? { redis, redisCause: `${problem.kind}: ${problem.cause}` }
    : { redis };
  // REDIS_REQUIRED: unshared is not good enough.
  const redisReady = !(services.config.redisRequired && redis !== 'up');
  const url = services.config.epmwareUrl;
  if (allOpen || !url) {
    const upstream = url ? 'not probed' : 'not configured';
    return { ready: false, upstream, circuit, openServices, ...redisState };
  }
  const probed = await upstreamVerdict(services, url);
  const upstream =
    probed.verdict === 'epmware'
      ? 'reachable'
      : probed.verdict === 'unreachable'
        ? 'unreachable'
        : `not EPMware: ${probed.cause}`;
  return {
    ready: probed.verdict === 'epmware' && redisReady,
    upstream,
    circuit,
    openServices,
    ...redisState,
  };
}

export async function handleProbe(
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
    // Draining after SIGTERM: everything is still served, but the load balancer must send new work elsewhere.
    if (services.lifecycle.draining) {
      sendJson(res, 503, { status: 'shutting down' });
      return true;
    }
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
