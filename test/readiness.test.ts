/**
 * Readiness that tells the truth (issue #21 item 3): /readyz and the start-up banner recognise an EPMWARE_URL that
 * answers but is not EPMware (a wrong path, an HTML page) by one unauthenticated GET that EPMware answers with its
 * JSON 401; a REDIS_URL that cannot be used (no such database, nothing on that port, a wrong password) is named
 * with its cause in /readyz and in one log line; REDIS_REQUIRED=true makes an instance unready while Redis is
 * down; and a normal start logs no warning, also when Redis comes up a moment after the gateway.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Config, ConfigError, loadConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { PROBE_PATH } from '../src/startup-probe.ts';
import { type GatewayProcess, startGatewayProcess } from './gateway-process.ts';
import { PrivateRedis, redisMissing, redisServerMissing, SHARED_REDIS_URL } from './redis-support.ts';
import { waitFor } from './subscription-clients.ts';

interface Started {
  gateway: Gateway;
  origin: string;
  logs: string[];
}

const started: Started[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map(({ gateway }) => gateway.close()));
});

/** A gateway (LOG_LEVEL=info, its log lines kept) in front of `epmwareUrl`. */
async function gatewayAt(epmwareUrl: string, env: Record<string, string> = {}): Promise<Started> {
  const config: Config = loadConfig({ LOG_LEVEL: 'info', EPMWARE_URL: epmwareUrl, ...env });
  const logs: string[] = [];
  const gateway = createGateway(config, { logStream: { write: (line) => void logs.push(line) } });
  const url = await gateway.listen(0, '127.0.0.1');
  const one = { gateway, origin: url.origin, logs };
  started.push(one);
  return one;
}

async function readyz(origin: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await request(`${origin}/readyz`);
  return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> };
}

/** Polls /readyz until `done` holds for its body (Redis connects, or fails, in the background). */
async function readyzUntil(
  origin: string,
  done: (body: Record<string, unknown>) => boolean,
): Promise<{ status: number; body: Record<string, unknown> }> {
  let last = await readyz(origin);
  await waitFor(async () => {
    last = await readyz(origin);
    return done(last.body);
  }, 10_000);
  return last;
}

const warnings = (logs: string[]) =>
  logs
    .map((line) => JSON.parse(line) as { level: string; msg: string })
    .filter((entry) => entry.level !== 'info');

describe('EPMWARE_URL that answers but is not EPMware', () => {
  let sim: Simulator;
  let page: Server;
  let pageOrigin: string;
  beforeAll(async () => {
    sim = await startSimulator({ rateLimits: 'relaxed' });
    // Whatever the path: a web page (a portal, a login page, a proxy's error page).
    page = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><html><body><h1>Welcome</h1></body></html>');
    });
    await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
    pageOrigin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await sim?.close();
    await new Promise((resolve) => page?.close(resolve));
  });

  it('the right URL: ready, by a GET without a token that EPMware answered with its JSON 401', async () => {
    sim.clearRequests();
    const { origin } = await gatewayAt(sim.url);
    const ready = await readyz(origin);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', upstream: 'reachable' });
    const probes = sim.requests();
    expect(probes).toHaveLength(1);
    expect(probes[0]).toMatchObject({ method: 'GET', path: PROBE_PATH, token: null, status: 401 });
    expect(probes[0]?.headers.authorization).toBeUndefined();
  });

  it('a wrong path (/api/v2): 503 naming the request and its 404, and the probe sent no token', async () => {
    sim.clearRequests();
    const { origin } = await gatewayAt(`${sim.url}/api/v2`);
    const ready = await readyz(origin);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({
      status: 'not ready',
      upstream: `not EPMware: GET ${sim.url}/api/v2${PROBE_PATH} answered 404`,
    });
    expect(sim.requests()).toEqual([
      expect.objectContaining({ method: 'GET', path: `/api/v2${PROBE_PATH}`, token: null, status: 404 }),
    ]);
  });

  it('an HTML page: 503 saying so', async () => {
    const { origin } = await gatewayAt(pageOrigin);
    const ready = await readyz(origin);
    expect(ready.status).toBe(503);
    expect(ready.body.upstream).toBe(
      `not EPMware: GET ${pageOrigin}${PROBE_PATH} answered 200 with an HTML page`,
    );
  });

  it('a load balancer polling /readyz: one probe per few seconds, not one per poll', async () => {
    sim.clearRequests();
    const { origin } = await gatewayAt(sim.url);
    const answers = await Promise.all(Array.from({ length: 5 }, () => readyz(origin)));
    for (let i = 0; i < 5; i++) answers.push(await readyz(origin));
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(200));
    expect(sim.requests({ path: PROBE_PATH })).toHaveLength(1);
  });

  describe('the start-up banner', () => {
    let running: GatewayProcess | undefined;
    afterAll(async () => {
      await running?.stop();
    });

    it('warns that EPMWARE_URL is not EPMware, naming the request and its answer', async () => {
      running = await startGatewayProcess({ EPMWARE_URL: `${sim.url}/api/v2` });
      expect(running.stdout()).toContain(
        `Warning: EPMWARE_URL answers, but not as EPMware does (GET ${sim.url}/api/v2${PROBE_PATH} answered 404)`,
      );
    });
  });
});

const redisGone = (await redisMissing()) ?? redisServerMissing();

describe.skipIf(redisGone !== null)('REDIS_URL that cannot be used', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ rateLimits: 'relaxed' });
  });
  afterAll(() => sim?.close());

  it('database 99: not up; /readyz and one log line name the database and why', async () => {
    const url = new URL(SHARED_REDIS_URL);
    url.pathname = '/99';
    const instance = await gatewayAt(sim.url, { REDIS_URL: url.href });
    const ready = await readyzUntil(instance.origin, (body) => typeof body.redisCause === 'string');
    // Still ready: it serves unshared (REDIS_REQUIRED is not set).
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ redis: 'down' });
    expect(ready.body.redisCause).toMatch(
      /^unusable: database 99 cannot be selected \(ERR DB index is out of range\)/,
    );
    expect(instance.gateway.services.redis?.isUp()).toBe(false);
    const lines = warnings(instance.logs);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.msg).toMatch(/^redis unusable \(database 99 cannot be selected/);
  });

  it('a port where nothing listens: the cause in /readyz and, once start-up is over, one log line', async () => {
    const nothing = await PrivateRedis.reserve();
    const instance = await gatewayAt(sim.url, { REDIS_URL: nothing.url });
    const ready = await readyzUntil(instance.origin, (body) => typeof body.redisCause === 'string');
    expect(ready.body.redisCause).toBe(
      `unreachable: ECONNREFUSED, connection refused: nothing listens on that port (127.0.0.1:${nothing.port})`,
    );
    await waitFor(() => warnings(instance.logs).length > 0, 10_000);
    const lines = warnings(instance.logs);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.msg).toContain(`redis unreachable (ECONNREFUSED, connection refused`);
  });

  it('a wrong password: named as such, and the password is in neither the log nor /readyz', async () => {
    const guarded = await PrivateRedis.start({ password: 'the-right-secret' });
    try {
      const wrong = new URL(guarded.url);
      wrong.password = 'not-the-secret-4711';
      const instance = await gatewayAt(sim.url, { REDIS_URL: wrong.href });
      const ready = await readyzUntil(instance.origin, (body) => typeof body.redisCause === 'string');
      expect(ready.body.redisCause).toMatch(/^unusable: authentication failed \(WRONGPASS /);
      await waitFor(() => warnings(instance.logs).length > 0);
      expect(warnings(instance.logs)).toHaveLength(1);
      expect(warnings(instance.logs)[0]?.msg).toMatch(/^redis unusable \(authentication failed/);
      expect(JSON.stringify(ready.body) + instance.logs.join('')).not.toContain('not-the-secret-4711');
    } finally {
      await guarded.stop();
    }
  });

  it('REDIS_REQUIRED=true: not ready while Redis is down, ready once it is up', async () => {
    const later = await PrivateRedis.reserve();
    const instance = await gatewayAt(sim.url, { REDIS_URL: later.url, REDIS_REQUIRED: 'true' });
    const down = await readyz(instance.origin);
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ status: 'not ready', upstream: 'reachable', redis: 'down' });
    await later.start();
    try {
      const up = await readyzUntil(instance.origin, (body) => body.redis === 'up');
      expect(up.status).toBe(200);
      expect(up.body.status).toBe('ready');
    } finally {
      await later.stop();
    }
    expect(() => loadConfig({ REDIS_REQUIRED: 'true' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_REQUIRED: 'true' })).toThrow(/^REDIS_REQUIRED: needs REDIS_URL/);
  });

  it('a normal start logs "connected" and no warning, also when Redis comes up just after the gateway', async () => {
    const healthy = await gatewayAt(sim.url, { REDIS_URL: SHARED_REDIS_URL });
    await readyzUntil(healthy.origin, (body) => body.redis === 'up');
    // Started together (a compose file, a reboot): Redis listens a moment after the gateway's first attempt.
    const alongside = await PrivateRedis.reserve();
    const late = await gatewayAt(sim.url, { REDIS_URL: alongside.url });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await alongside.start();
    try {
      await readyzUntil(late.origin, (body) => body.redis === 'up');
      for (const instance of [healthy, late]) {
        expect(warnings(instance.logs)).toEqual([]);
        expect(instance.logs.filter((line) => line.includes('redis connected'))).toHaveLength(1);
      }
    } finally {
      await alongside.stop();
    }
  });
});
