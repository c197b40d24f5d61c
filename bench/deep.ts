/**
 * Two figures of issue #12 the list table does not show:
 * - the deep query `users(first: 1000) { nodes { userName groups { name users { userName } } } }` at N = 1,000
 *   and 5,000 (about 237k and 1.2M user objects in the answer): time per request (warm cache, one at a time) and
 *   the gateway process' peak RSS (VmHWM) against its RSS at rest;
 * - cold users->groups with 20 ms of upstream latency: with the users list and the memberships fetched in
 *   parallel, a cold request should cost one round trip (20 ms) more than a warm one. The same upstream requests
 *   sent straight to the simulator, in parallel, say how much of that is EPMware's (the simulator's) own time.
 * The gateway runs compiled, NODE_ENV=production, as its own process.
 */
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { startSimulator } from '../src/simulator/index.ts';
import { buildGateway, rssBytes, startGateway, type Target } from './processes.ts';
import type { BenchOptions, BenchResult } from './types.ts';

const DEEP = '{ users(first: 1000) { nodes { userName groups { name users { userName } } } } }';
const USERS_GROUPS = '{ users(first: 1000) { nodes { userName groups { name } } } }';
const LATENCY_MS = 20;

async function timed(target: Target, token: string, query: string): Promise<{ ms: number; bytes: number }> {
  const started = performance.now();
  const response = await request(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Token ${token}` },
    body: JSON.stringify({ query }),
  });
  const text = await response.body.text();
  const ms = performance.now() - started;
  if (response.statusCode !== 200 || text.includes('"errors"'))
    throw new Error(`failed: ${text.slice(0, 300)}`);
  return { ms, bytes: Buffer.byteLength(text) };
}

/** The time to get every answer a cold request needs, asking the simulator directly and all at once. */
async function upstreamAlone(simulatorUrl: string, token: string, paths: string[]): Promise<number> {
  const started = performance.now();
  await Promise.all(
    paths.map(async (path) => {
      const response = await request(`${simulatorUrl}${path}`, {
        headers: { authorization: `Token ${token}` },
      });
      await response.body.text();
    }),
  );
  return performance.now() - started;
}

function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

export async function run(options?: BenchOptions): Promise<BenchResult> {
  buildGateway();
  const runs = options?.quick ? 3 : 5;
  const deepRows: string[] = [];
  for (const users of [1_000, 5_000]) {
    const sim = await startSimulator({
      users,
      groups: Math.max(5, Math.round(users / 20)),
      rateLimits: 'relaxed',
    });
    // A long cache so every timed request is warm.
    const gateway = await startGateway(sim.url, { CACHE_TTL_MS: '600000' });
    try {
      await timed(gateway, sim.tokens.primary, '{ users(first: 1) { totalCount } }');
      const resting = rssBytes(gateway.pid);
      const cold = await timed(gateway, sim.tokens.primary, DEEP);
      const times: number[] = [];
      let bytes = 0;
      for (let i = 0; i < runs; i++) {
        const warm = await timed(gateway, sim.tokens.primary, DEEP);
        times.push(warm.ms);
        bytes = warm.bytes;
      }
      deepRows.push(
        `| ${users.toLocaleString('en')} | ${(bytes / 2 ** 20).toFixed(1)} MB | ${Math.round(cold.ms)} ms | ` +
          `${Math.round(median(times))} ms | ${mb(peakRss(gateway.pid))} MB | ${mb(resting)} MB | ${runs} |`,
      );
    } finally {
      await gateway.stop();
      await sim.close();
    }
  }

  const sim = await startSimulator({
    users: 1_000,
    groups: 50,
    rateLimits: 'relaxed',
    latencyMs: LATENCY_MS,
  });
  const warmGateway = await startGateway(sim.url, { CACHE_TTL_MS: '600000' });
  const coldGateway = await startGateway(sim.url, { CACHE_TTL_MS: '0' });
  let coldRow: string;
  try {
    const token = sim.tokens.primary;
    const samples = options?.quick ? 10 : 30;
    for (let i = 0; i < 3; i++) {
      await timed(warmGateway, token, USERS_GROUPS);
      await timed(coldGateway, token, USERS_GROUPS);
    }
    // What one cold request asks EPMware for, sent again below straight to the simulator.
    sim.clearRequests();
    await timed(coldGateway, token, USERS_GROUPS);
    const upstreamPaths = sim.requests().map((entry) => entry.path);
    const warm: number[] = [];
    const cold: number[] = [];
    const upstream: number[] = [];
    for (let i = 0; i < samples; i++) {
      warm.push((await timed(warmGateway, token, USERS_GROUPS)).ms);
      cold.push((await timed(coldGateway, token, USERS_GROUPS)).ms);
      upstream.push(await upstreamAlone(sim.url, token, upstreamPaths));
    }
    const extra = median(cold) - median(warm);
    const own = extra - median(upstream);
    coldRow =
      `| ${median(cold).toFixed(1)} ms | ${median(warm).toFixed(1)} ms | ${extra.toFixed(1)} ms | ` +
      `${median(upstream).toFixed(1)} ms (${upstreamPaths.length} requests) | ${own.toFixed(1)} ms | ${samples} |`;
  } finally {
    await warmGateway.stop();
    await coldGateway.stop();
    await sim.close();
  }

  const table = [
    '| N | answer | first (cold) | warm p50 | peak RSS (VmHWM) | RSS at rest | warm runs |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...deepRows,
    '',
    `Cold users->groups (N = 1,000, ${LATENCY_MS} ms upstream latency, one request at a time):`,
    '',
    "| cold p50 (CACHE_TTL_MS=0) | warm p50 | cold − warm | the same upstream requests sent straight, in parallel (p50) | the gateway's own cold work (cold − warm − upstream) | requests |",
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    coldRow,
  ].join('\n');
  return {
    name: `Deep query users → groups → users, and cold users → groups`,
    table,
    notes:
      `Deep: \`${DEEP}\` against the compiled gateway (NODE_ENV=production, CACHE_TTL_MS=600000 so repeats are ` +
      'warm), one request at a time; peak RSS is the process high-water mark after every run, resting RSS after ' +
      'one small query. Cold: two gateways on one simulator, one with its cache off, alternating requests; the ' +
      'simulator runs in the bench process, so its time to build and send the answers is on the same 2 cores.',
  };
}
