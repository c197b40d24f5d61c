/**
 * Issue #12's table: the gateway (compiled, NODE_ENV=production, defaults) serving a 1,000-user page from its warm
 * cache, against three references holding the same users and memberships in memory (bench/reference-server.ts):
 * a minimal Yoga + Pothos server, the same with graphql-jit, and bare node:http answering precomputed JSON.
 *
 * Every target is its own process, measured under the same autocannon load (20 connections), one after another
 * and alternating (round 1: gateway, yoga, jit, bare; round 2 in reverse...), so a noisy neighbour hits all of
 * them alike. Figures: req/s, p50/p99 latency, CPU ms per request from the target's own CPU time (/proc), peak
 * RSS while loaded, and the ratio to the plain Yoga + Pothos reference measured in the same run.
 */
import autocannon from 'autocannon';
import { request } from 'undici';
import { startSimulator } from '../src/simulator/index.ts';
import { buildGateway, cpuMs, sampleRss, startGateway, startReference, type Target } from './processes.ts';
import type { BenchOptions, BenchResult } from './types.ts';

const CONNECTIONS = 20;

export const QUERIES = {
  list: '{ users(first: 1000) { nodes { userName firstName email } } }',
  'users->groups': '{ users(first: 1000) { nodes { userName groups { name } } } }',
} as const;
type QueryName = keyof typeof QUERIES;

interface Plan {
  sizes: number[];
  rounds: number;
  seconds: number;
  warmSeconds: number;
}

const FULL: Plan = { sizes: [100, 1_000, 10_000], rounds: 2, seconds: 5, warmSeconds: 2 };
const QUICK: Plan = { sizes: [1_000], rounds: 1, seconds: 4, warmSeconds: 1 };
const TARGETS = ['gateway', 'yoga', 'jit', 'bare'] as const;
const LABEL: Record<(typeof TARGETS)[number], string> = {
  gateway: 'gateway',
  yoga: 'Yoga + Pothos',
  jit: 'Yoga + Pothos + graphql-jit',
  bare: 'bare node:http',
};
interface Totals {
  requests: number;
  seconds: number;
  cpuMs: number;
  p50: number[];
  p99: number[];
  peakRss: number;
  failures: number;
}

function headersFor(token: string): Record<string, string> {
  return { 'content-type': 'application/json', accept: 'application/json', authorization: `Token ${token}` };
}

async function answer(target: Target, token: string, query: string): Promise<string> {
  const response = await request(target.url, {
    method: 'POST',
    headers: headersFor(token),
    body: JSON.stringify({ query }),
  });
  return response.body.text();
}

async function load(target: Target, token: string, query: string, seconds: number, totals?: Totals) {
  const cpuBefore = cpuMs(target.pid);
  const stopSampling = sampleRss(target.pid);
  const result = await autocannon({
    url: target.url.href,
    method: 'POST',
    headers: headersFor(token),
    body: JSON.stringify({ query }),
    connections: CONNECTIONS,
    duration: seconds,
  });
  const cpu = cpuMs(target.pid) - cpuBefore;
  const peak = stopSampling();
  if (!totals) return;
  totals.requests += result.requests.total;
  totals.seconds += seconds;
  totals.cpuMs += cpu;
  totals.p50.push(result.latency.p50);
  totals.p99.push(result.latency.p99);
  totals.peakRss = Math.max(totals.peakRss, peak);
  totals.failures += result.errors + result.non2xx + result.timeouts;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

const fmt = (value: number, digits = 0) =>
  value.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export async function run(options?: BenchOptions): Promise<BenchResult> {
  const plan = options?.quick ? QUICK : FULL;
  buildGateway();
  const rows: string[] = [];
  const log = (line: string) => process.stderr.write(`  ${line}\n`);
  for (const users of plan.sizes) {
    const sim = await startSimulator({
      users,
      groups: Math.max(5, Math.round(users / 20)),
      rateLimits: 'relaxed',
    });
    const token = sim.tokens.primary;
    const targets: Record<string, Target> = {};
    try {
      targets.gateway = await startGateway(sim.url);
      for (const kind of ['yoga', 'jit', 'bare'] as const)
        targets[kind] = await startReference(kind, sim.url, token);
      const pageSize = Math.min(users, 1_000);
      for (const [queryName, query] of Object.entries(QUERIES) as Array<[QueryName, string]>) {
        // The same bytes from every target, or the comparison means nothing.
        const expected = await answer(targets.gateway as Target, token, query);
        for (const kind of TARGETS) {
          const got = await answer(targets[kind] as Target, token, query);
          if (got !== expected) throw new Error(`${kind} answers ${queryName} differently from the gateway`);
        }
        const empty = (): Totals => ({
          requests: 0,
          seconds: 0,
          cpuMs: 0,
          p50: [],
          p99: [],
          peakRss: 0,
          failures: 0,
        });
        const totals = { gateway: empty(), yoga: empty(), jit: empty(), bare: empty() };
        for (const kind of TARGETS) await load(targets[kind] as Target, token, query, plan.warmSeconds);
        for (let round = 0; round < plan.rounds; round++) {
          const order = round % 2 === 0 ? TARGETS : [...TARGETS].reverse();
          for (const kind of order) {
            log(`N=${users} ${queryName} round ${round + 1}/${plan.rounds}: ${LABEL[kind]}`);
            await load(targets[kind] as Target, token, query, plan.seconds, totals[kind]);
          }
        }
        const reference = totals.yoga.requests / totals.yoga.seconds;
        for (const kind of TARGETS) {
          const t = totals[kind];
          const rps = t.requests / t.seconds;
          const cpuPerRequest = t.cpuMs / Math.max(1, t.requests);
          if (t.failures > 0)
            throw new Error(`${kind}: ${t.failures} failed requests for ${queryName} at N=${users}`);
          rows.push(
            `| ${fmt(users)} | ${queryName} | ${LABEL[kind]} | ${fmt(rps)} | ${fmt(median(t.p50))} | ` +
              `${fmt(median(t.p99))} | ${fmt(cpuPerRequest, 2)} | ${fmt((cpuPerRequest * 1000) / pageSize, 2)} | ` +
              `${fmt(t.peakRss / 2 ** 20)} | ${kind === 'gateway' ? '**' : ''}${(rps / reference).toFixed(2)}×${kind === 'gateway' ? '**' : ''} |`,
          );
        }
      }
    } finally {
      for (const target of Object.values(targets)) await target.stop();
      await sim.close();
    }
  }
  const table = [
    '| N | query | server | req/s | p50 ms | p99 ms | CPU ms / request | CPU µs / user | peak RSS MB | req/s vs Yoga + Pothos |',
    '| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
  return {
    name: `Warm list: gateway vs in-memory references (${CONNECTIONS} connections${options?.quick ? ', quick mode' : ''})`,
    table,
    notes:
      `Queries: list \`${QUERIES.list}\`; users->groups \`${QUERIES['users->groups']}\` (a page holds min(N, 1,000) ` +
      'users; CPU µs / user divides by that). Each target is a process of its own; every target answered the same ' +
      `bytes before the run. ${plan.rounds} round(s) of ${plan.seconds} s per target and query, alternating order, ` +
      `after ${plan.warmSeconds} s of warm-up; req/s over all rounds, p50/p99 the median of the rounds', CPU from ` +
      '/proc/<pid>/stat over the loaded seconds, RSS sampled every 50 ms. The gateway runs `node dist/main.js` with ' +
      'NODE_ENV=production and default settings (CACHE_TTL_MS 5 s, so it refetches and reparses once per 5 s); the ' +
      'references hold the data in memory and never refetch. autocannon runs in the bench process on the same 2 cores.',
  };
}
