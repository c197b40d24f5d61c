/**
 * deploy/compose.yaml's topology for real (test/deploy-topology.ts): Debian's haproxy on deploy/haproxy/haproxy.cfg
 * in front of three `node dist/main.js` gateways sharing a private redis-server, with the compose file's gateway
 * environment. Through HAProxy: queries go round-robin, subscriptions over graphql-ws and SSE reach their task's
 * terminal status, a client cannot choose the links' host, /metrics is only on each instance's METRICS_PORT, and an
 * instance leaves the rotation when its /readyz says 503 or it dies, while every request keeps succeeding. The rolling
 * restart under subscriptions (issue #21, graceful shutdown) is test/deploy-rolling-restart.test.ts, on the same
 * topology.
 * Needs dist/, haproxy and redis-server: skipped visibly without them, except under CI=true.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { haproxyMissing, startTopology, type Topology } from './deploy-topology.ts';
import { PROJECT_ROOT } from './gateway-process.ts';
import { redisServerMissing } from './redis-support.ts';
import { progressOf, TASK_UPDATES, type TaskEvent } from './subscription-clients.ts';

const built = existsSync(join(PROJECT_ROOT, 'dist', 'main.js'));
if (!built && process.env.CI === 'true') throw new Error('CI=true and dist/ is not built: run npm run build');
const missing = !built ? 'dist/ is not built (npm run build)' : (haproxyMissing() ?? redisServerMissing());
if (missing) console.warn(`\n*** deploy-haproxy: ${missing}: the HAProxy topology test is skipped ***\n`);

const USERS_COUNT = '{ users { totalCount } }';
/** How many users the topology's simulator holds. */
const SIM_USERS = 24;

interface Answer {
  status: number;
  body: { data?: Record<string, unknown> | null; errors?: Array<{ message: string }> };
}

describe.skipIf(missing !== null)(
  'the compose topology: HAProxy in front of three gateways and Redis',
  () => {
    let topology: Topology;

    beforeAll(async () => {
      // Subscriptions see several progress steps of a short task; everything else is compose's environment.
      topology = await startTopology({
        env: { TASK_POLL_INTERVAL_MS: '250' },
        simulator: { taskDurationMs: 2_500, users: SIM_USERS },
      });
    }, 60_000);
    afterAll(async () => {
      await topology?.close();
    });

    async function throughHaproxy(query: string, headers: Record<string, string> = {}): Promise<Answer> {
      const response = await request(topology.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Token ${topology.sim.tokens.primary}`,
          ...headers,
        },
        body: JSON.stringify({ query }),
      });
      return { status: response.statusCode, body: (await response.body.json()) as Answer['body'] };
    }

    /** Requests each server received since `before`. */
    async function requestsSince(
      before: Record<string, { requests: number }>,
    ): Promise<Record<string, number>> {
      const after = await topology.stats();
      return Object.fromEntries(
        Object.entries(after).map(([name, server]) => [
          name,
          server.requests - (before[name]?.requests ?? 0),
        ]),
      );
    }

    function expectServed(answers: Answer[]): void {
      for (const answer of answers) {
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        expect(answer.body.errors, JSON.stringify(answer.body)).toBeUndefined();
        expect(answer.body.data).toEqual({ users: { totalCount: SIM_USERS } });
      }
    }

    async function startRun(name: string): Promise<string> {
      const answer = await throughHaproxy(`mutation { runDeployment(name: "${name}") { taskId } }`);
      const taskId = (answer.body.data?.runDeployment as { taskId?: string } | undefined)?.taskId;
      if (!taskId) throw new Error(`runDeployment ${name}: ${JSON.stringify(answer.body)}`);
      return taskId;
    }

    it('round-robin: each instance serves a third of the queries, and they share one cache through Redis', async () => {
      const before = await topology.stats();
      topology.sim.clearRequests();
      const answers: Answer[] = [];
      for (let i = 0; i < 12; i++) answers.push(await throughHaproxy(USERS_COUNT));
      expectServed(answers);
      expect(await requestsSince(before)).toEqual({ 'gateway-1': 4, 'gateway-2': 4, 'gateway-3': 4 });
      // Twelve reads on three instances, one upstream call: the others read the answer from Redis.
      expect(topology.sim.requests({ path: '/service/api/security/users' })).toHaveLength(1);
      for (const gateway of topology.gateways) {
        const ready = await request(`http://127.0.0.1:${gateway.port}/readyz`);
        expect(await ready.body.json()).toMatchObject({ status: 'ready', redis: 'up' });
      }
    });

    it('METRICS_PORT: /metrics is not served through HAProxy; each instance serves it on its own port', async () => {
      const through = await request(new URL('/metrics', topology.url));
      await through.body.dump();
      expect(through.statusCode).toBe(404);
      for (const gateway of topology.gateways) {
        expect(gateway.metricsPort, gateway.name).not.toBeNull();
        const scrape = await request(`http://127.0.0.1:${gateway.metricsPort}/metrics`);
        expect(scrape.statusCode, gateway.name).toBe(200);
        expect(await scrape.body.text()).toMatch(/^gateway_redis_up 1$/m);
      }
    });

    it('subscriptions over graphql-ws and SSE through HAProxy end with their task’s terminal status', async () => {
      const [wsTask, sseTask] = [await startRun('ASOALL'), await startRun('PLANNING_DEV')];
      const ws = createWsClient({
        url: topology.url.href.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Token ${topology.sim.tokens.primary}` },
        retryAttempts: 0,
        lazy: true,
      });
      const sse = createSseClient({
        url: topology.url.href,
        headers: { authorization: `Token ${topology.sim.tokens.primary}` },
        retryAttempts: 0,
      });
      const collect = async (events: AsyncIterable<unknown>): Promise<TaskEvent[]> => {
        const seen: TaskEvent[] = [];
        for await (const event of events) seen.push(event as TaskEvent);
        return seen;
      };
      try {
        const [overWs, overSse] = await Promise.all([
          collect(ws.iterate({ query: TASK_UPDATES, variables: { taskId: wsTask } })),
          collect(sse.iterate({ query: TASK_UPDATES, variables: { taskId: sseTask } })),
        ]);
        for (const [events, taskId] of [
          [overWs, wsTask],
          [overSse, sseTask],
        ] as const) {
          expect(events.every((event) => event.errors === undefined)).toBe(true);
          const { states, last } = progressOf(events);
          expect(states.slice(0, -1).every((state) => state === 'RUNNING')).toBe(true);
          expect(last).toMatchObject({ taskId, state: 'SUCCEEDED', percentCompleted: 100 });
        }
      } finally {
        await ws.dispose();
        sse.dispose();
      }
    }, 30_000);

    it('a client cannot choose the links’ host: HAProxy replaces Forwarded and X-Forwarded-* (TRUST_PROXY=true)', async () => {
      const taskId = await startRun('FCCS_CONSOL');
      const answer = await throughHaproxy(`{ task(taskId: "${taskId}") { downloadUrl } }`, {
        forwarded: 'proto=https;host=evil.example',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'https',
      });
      const link = (answer.body.data?.task as { downloadUrl?: string } | undefined)?.downloadUrl ?? '';
      expect(new URL(link).origin).toBe(topology.url.origin);
    });

    it('an instance whose /readyz answers 503 leaves the rotation; requests keep succeeding without it', async () => {
      await topology.cutUpstream(2);
      try {
        // /readyz reuses its verdict on EPMware for a few seconds (routes/probes.ts): ask until it has a new one.
        let readyz = await request(`http://127.0.0.1:${topology.gateways[2]?.port}/readyz`);
        for (let tries = 0; readyz.statusCode !== 503 && tries < 100; tries++) {
          await readyz.body.dump();
          await new Promise((resolve) => setTimeout(resolve, 100));
          readyz = await request(`http://127.0.0.1:${topology.gateways[2]?.port}/readyz`);
        }
        expect(readyz.statusCode).toBe(503);
        expect(await readyz.body.json()).toMatchObject({ upstream: 'unreachable' });
        await topology.waitForStatus('gateway-3', 'DOWN');

        const before = await topology.stats();
        const answers: Answer[] = [];
        for (let i = 0; i < 12; i++) answers.push(await throughHaproxy(USERS_COUNT));
        expectServed(answers);
        // The process still listens, and HAProxy sends it nothing.
        expect(await requestsSince(before)).toEqual({ 'gateway-1': 6, 'gateway-2': 6, 'gateway-3': 0 });
      } finally {
        await topology.restoreUpstream(2);
      }
      await topology.waitForStatus('gateway-3', 'UP');
    }, 30_000);

    it('a killed instance: every request before, across and after the kill succeeds; it rejoins once restarted', async () => {
      const before = await topology.stats();
      const answers: Answer[] = [];
      for (let i = 0; i < 30; i++) {
        // Killed between two requests, as a crash between two of one client's calls (a request in flight on the
        // killed instance is lost with it: HAProxy retries only connections, never a request that was sent).
        if (i === 10) await topology.stopGateway(1, 'SIGKILL');
        answers.push(await throughHaproxy(USERS_COUNT));
      }
      expectServed(answers);
      const stats = await topology.stats();
      // Its turns after the kill failed to connect and went to another instance before the checks took it out.
      expect(stats['gateway-2']?.redispatches).toBeGreaterThan(before['gateway-2']?.redispatches ?? 0);
      await topology.waitForStatus('gateway-2', 'DOWN');

      await topology.startGateway(1);
      await topology.waitForStatus('gateway-2', 'UP');
      const rejoined = await topology.stats();
      const after: Answer[] = [];
      for (let i = 0; i < 6; i++) after.push(await throughHaproxy(USERS_COUNT));
      expectServed(after);
      expect(await requestsSince(rejoined)).toEqual({ 'gateway-1': 2, 'gateway-2': 2, 'gateway-3': 2 });
    }, 60_000);
  },
);
