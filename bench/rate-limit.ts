/**
 * Rate-limit benchmark: 30 concurrent clients fire 300 mixed dashboard queries at the gateway in front of the
 * simulator with EPMware's documented limits on (100 requests/min per token), each run on a fresh stack: with
 * the budget, coalescing and the cache (UPSTREAM_RATE_LIMIT_PER_MIN=100, CACHE_TTL_MS=5000); with the cache off,
 * so that demand exceeds the budget and the budget itself holds the line; and with all three switched off
 * (`resilience: false`), which shows the 429 storm they prevent. UPSTREAM_TIMEOUT_MS is 5 s so that waits stay
 * short and the whole bench stays well under a minute.
 */
import { request } from 'undici';
import { loadConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import type { BenchResult } from './types.ts';

const CLIENTS = 30;
const QUERIES = 300;
const UPSTREAM_LATENCY_MS = 20;

interface Query {
  query: string;
  variables?: Record<string, unknown>;
}

interface GraphQLAnswer {
  errors?: Array<{ extensions?: { code?: string } }>;
}

interface RunFigures {
  label: string;
  upstreamRequests: number;
  maxPerMinute: number;
  upstream429: number;
  answers: number;
  ok: number;
  rateLimited: number;
  p50: number;
  p99: number;
  seconds: number;
}

/**
 * A dashboard's mix: the user and group lists, single users with their groups (60 different users), deployment
 * and export histories (latest and full), and task status polls, which are never cached. Enough different reads
 * that without the cache the demand exceeds the 100/min budget, so the middle row shows the budget at work.
 */
function queryMix(sim: Simulator): Query[] {
  const { fixtures } = sim;
  const userNames = sim
    .state()
    .users()
    .map((u) => u.userName);
  const taskIds = [fixtures.runningTaskId, fixtures.succeededTaskId, fixtures.failedTaskId];
  const pick = <T>(items: T[], i: number): T => items[i % items.length] as T;
  const kinds: Array<(i: number) => Query> = [
    () => ({ query: '{ users(first: 20) { totalCount edges { node { userName enabled } } } }' }),
    () => ({ query: '{ groups(first: 20) { totalCount edges { node { name userCount } } } }' }),
    (i) => ({
      query: 'query ($n: String!) { user(userName: $n) { userName email enabled groups { name } } }',
      variables: { n: pick(userNames, i) },
    }),
    (i) => ({
      query: 'query ($n: String!) { deployment(name: $n) { name latestExecution { status state } } }',
      variables: { n: pick(fixtures.deploymentNames, i) },
    }),
    (i) => ({
      query: 'query ($n: String!) { deployment(name: $n) { name executions { status } } }',
      variables: { n: pick(fixtures.deploymentNames, i + 1) },
    }),
    (i) => ({
      query: 'query ($n: String!) { export(name: $n) { name latestExecution { status state } } }',
      variables: { n: pick(fixtures.exportNames, i) },
    }),
    (i) => ({
      query: 'query ($t: ID!) { task(taskId: $t) { state percentCompleted } }',
      variables: { t: pick(taskIds, i) },
    }),
    (i) => ({
      query: 'query ($n: String!) { user(userName: $n) { userName groups { name } } }',
      variables: { n: pick(userNames, i * 7 + 3) },
    }),
  ];
  // A fixed interleaving (no randomness), so both runs send exactly the same queries in the same order.
  return Array.from({ length: QUERIES }, (_, i) => (kinds[i % kinds.length] as (i: number) => Query)(i));
}

/** Think time between one client's queries, 200-800 ms, from a fixed sequence so both runs pace alike. */
function thinkTimes(): () => number {
  let state = 42;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return 200 + (state % 600);
  };
}

async function post(url: URL, token: string, query: Query): Promise<GraphQLAnswer> {
  const response = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Token ${token}` },
    body: JSON.stringify(query),
  });
  return (await response.body.json()) as GraphQLAnswer;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** The most requests EPMware saw in any 60 s span: what its per-minute limit counts. */
function maxInAnyMinute(times: number[]): number {
  let best = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] ?? 0) - (times[start] ?? 0) >= 60_000) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

async function runOnce(label: string, resilience: boolean, cacheTtlMs = 5_000): Promise<RunFigures> {
  const sim = await startSimulator({ rateLimits: 'documented', latencyMs: UPSTREAM_LATENCY_MS });
  const config = {
    ...loadConfig({
      UPSTREAM_RATE_LIMIT_PER_MIN: '100',
      UPSTREAM_TIMEOUT_MS: '5000',
      CACHE_TTL_MS: String(cacheTtlMs),
      LOG_LEVEL: 'error',
    }),
    epmwareUrl: new URL(sim.url),
  };
  const gateway = createGateway(config, { upstream: { resilience }, logStream: { write() {} } });
  const url = await gateway.listen(0, '127.0.0.1');
  const queue = queryMix(sim);
  // Warm-up with the other tenant's token (its own budget and cache): the first queries pay for JIT compilation.
  for (const warmUp of queue.slice(0, 8)) await post(url, sim.tokens.secondary, warmUp);
  sim.clearRequests();
  const latencies: number[] = [];
  let ok = 0;
  let rateLimited = 0;
  const think = thinkTimes();
  const started = Date.now();
  const client = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      await new Promise((resolve) => setTimeout(resolve, think()));
      const sentAt = performance.now();
      const body = await post(url, sim.tokens.primary, next);
      latencies.push(performance.now() - sentAt);
      const codes = (body.errors ?? []).map((e) => e.extensions?.code);
      if (codes.length === 0) ok++;
      if (codes.includes('RATE_LIMITED')) rateLimited++;
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const seconds = (Date.now() - started) / 1000;
  const upstream = sim.requests().filter((r) => r.path.startsWith('/service/api/'));
  await gateway.close();
  await sim.close();
  latencies.sort((a, b) => a - b);
  return {
    label,
    upstreamRequests: upstream.length,
    maxPerMinute: maxInAnyMinute(upstream.map((r) => r.at).sort((a, b) => a - b)),
    upstream429: upstream.filter((r) => r.status === 429).length,
    answers: latencies.length,
    ok,
    rateLimited,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    seconds,
  };
}

export async function run(): Promise<BenchResult> {
  const shaped = await runOnce('budget + coalescing + cache', true);
  const budgetOnly = await runOnce('budget + coalescing, cache off (CACHE_TTL_MS=0)', true, 0);
  const raw = await runOnce('all three off (baseline)', false);
  const share = (n: number, of: number) => `${((100 * n) / of).toFixed(1)} %`;
  const rows = [shaped, budgetOnly, raw].map(
    (f) =>
      `| ${f.label} | ${f.upstreamRequests} | ${f.maxPerMinute} | ${f.upstream429} | ${share(f.ok, f.answers)} | ` +
      `${share(f.rateLimited, f.answers)} | ${f.p50.toFixed(0)} | ${f.p99.toFixed(0)} | ${f.seconds.toFixed(1)} |`,
  );
  const table = [
    '| gateway | upstream requests | max upstream in any 60 s (goal <= 100) | upstream 429s (goal 0) | answers fully OK | answers RATE_LIMITED | client p50 ms | client p99 ms | run s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
  return {
    name: `Rate limits: ${CLIENTS} clients, ${QUERIES} mixed queries, EPMware limits on (100/min per token)`,
    table,
    notes:
      `Simulator with its documented limits and ${UPSTREAM_LATENCY_MS} ms latency; gateway UPSTREAM_RATE_LIMIT_PER_MIN=100, ` +
      'CACHE_TTL_MS=5000, UPSTREAM_TIMEOUT_MS=5000; one token for all clients (the worst case: one budget). ' +
      'Each client sends its next query 200-800 ms after the previous answer (10 queries each, about 5 s). ' +
      'The baseline passes every query ' +
      'through; past 100 requests EPMware answers 429 with a Retry-After longer than the deadline, so those ' +
      'answers are RATE_LIMITED too, but only after spending a request upstream. With the cache off, the budget ' +
      'sends exactly its 100 and answers the rest RATE_LIMITED at once (their slot is a minute away, past the 5 s ' +
      'deadline) without EPMware seeing them.',
  };
}
