// /__sim/*: the simulator's controls over HTTP, for a benchmark driving it from another process. No auth, not
// recorded in the request log, not rate limited: they are not part of the simulated API.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConfigPatch, ServiceName } from './contract.ts';
import { readBody } from './http.ts';
import type { Simulation } from './simulation.ts';

const SERVICES: readonly ServiceName[] = ['deployment', 'erp', 'export', 'security', 'task'];

function send(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** The control routes, for a person who opens /__sim/ in a browser. */
const CONTROL_INDEX = {
  about: 'EPMware simulator controls (not part of the simulated API: no token, not logged, not rate limited)',
  routes: {
    'GET /__sim/info':
      'tokens and fixture names (deployments, exports, export books, ERP configurations, task ids)',
    'GET /__sim/requests?method=&path=': 'the request log (path may end in *)',
    'DELETE /__sim/requests': 'clear the request log',
    'POST /__sim/faults':
      'add a fault: {"method","path","token","status","times","delayMs","reset","retryAfter","minHeaderBytes"}',
    'DELETE /__sim/faults': 'clear faults',
    'POST /__sim/config':
      '{"latencyMs","taskDurationMs","rateLimits": "documented" | "relaxed" | {standard,upload,bulk}}',
    'PUT /__sim/services/{deployment|erp|export|security|task}': '{"down": true|false}',
    'POST /__sim/exports/{taskId}/expire': "expire an export task's file (downloads then get 410)",
  },
};

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req);
  if (body.kind === 'none') return {};
  if (
    body.kind !== 'json' ||
    typeof body.value !== 'object' ||
    body.value === null ||
    Array.isArray(body.value)
  ) {
    throw new ControlError(400, 'Body must be a JSON object');
  }
  return body.value as Record<string, unknown>;
}

export async function handleControl(
  sim: Simulation,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  try {
    const value = await dispatch(sim, req, url);
    send(res, 200, value);
  } catch (error) {
    const status = error instanceof ControlError ? error.status : 400;
    send(res, status, { status: 'E', message: error instanceof Error ? error.message : String(error) });
  }
}

async function dispatch(sim: Simulation, req: IncomingMessage, url: URL): Promise<unknown> {
  const method = req.method ?? 'GET';
  const parts = url.pathname.split('/').slice(2);
  const [resource, id, action] = parts;
  const ok = { ok: true };
  switch (`${method} ${resource ?? ''}${parts.length > 1 ? '/:id' : ''}${action ? `/${action}` : ''}`) {
    case 'GET ':
      // /__sim/ itself (the URL `npm run simulator` prints): what can be done here.
      return CONTROL_INDEX;
    case 'GET requests': {
      const filter: { method?: string; path?: string } = {};
      const m = url.searchParams.get('method');
      const p = url.searchParams.get('path');
      if (m !== null) filter.method = m;
      if (p !== null) filter.path = p;
      return sim.log.list(filter);
    }
    case 'DELETE requests':
      sim.log.clear();
      return ok;
    case 'POST faults':
      sim.faults.add(await jsonBody(req));
      return ok;
    case 'DELETE faults':
      sim.faults.clear();
      return ok;
    case 'POST config':
      sim.configure(parseConfigPatch(await jsonBody(req)));
      return ok;
    case 'GET info':
      return {
        tokens: { primary: sim.primary.token, secondary: sim.secondary.token },
        fixtures: sim.fixtures,
      };
    case 'PUT services/:id': {
      const service = SERVICES.find((s) => s === id);
      if (!service) throw new ControlError(404, `Unknown service '${id ?? ''}'`);
      const down = (await jsonBody(req)).down;
      if (typeof down !== 'boolean') throw new ControlError(400, 'Body must be {"down": true|false}');
      sim.setServiceDown(service, down);
      return ok;
    }
    case 'POST exports/:id/expire':
      try {
        sim.expireExportFile(id ?? '');
      } catch (error) {
        throw new ControlError(404, error instanceof Error ? error.message : String(error));
      }
      return ok;
    default:
      throw new ControlError(404, `Unknown control route: ${method} ${url.pathname}`);
  }
}

function parseConfigPatch(body: Record<string, unknown>): ConfigPatch {
  const patch: ConfigPatch = {};
  for (const field of ['latencyMs', 'taskDurationMs'] as const) {
    const value = body[field];
    if (value === undefined) continue;
    if (typeof value !== 'number') throw new ControlError(400, `${field} must be a number`);
    patch[field] = value;
  }
  const limits = body.rateLimits;
  if (limits === 'documented' || limits === 'relaxed') {
    patch.rateLimits = limits;
  } else if (typeof limits === 'object' && limits !== null) {
    const l = limits as Record<string, unknown>;
    const { standard, upload, bulk } = l;
    if (typeof standard !== 'number' || typeof upload !== 'number' || typeof bulk !== 'number') {
      throw new ControlError(400, 'rateLimits must be "documented", "relaxed" or {standard, upload, bulk}');
    }
    patch.rateLimits = { standard, upload, bulk };
  } else if (limits !== undefined) {
    throw new ControlError(400, 'rateLimits must be "documented", "relaxed" or {standard, upload, bulk}');
  }
  return patch;
}
