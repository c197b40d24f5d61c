/**
 * Many credentials: 50,000 requests, each with a token never seen before, against the gateway in front of the
 * simulator (unknown tokens answer 401 there, which costs the gateway the same budget window, cache lookup and
 * upstream request as a real one). Reference in the same run: the same number of requests spread over only 100
 * tokens. Prints throughput, CPU ms per request (this process' own CPU time: load generator, gateway and
 * simulator together, alike in both runs) and the heap before and after (after a GC when run with --expose-gc,
 * which `npm run bench:tokens` does). Bounded: each run stops after BENCH_SECONDS (default 120) whatever it reached.
 *
 * Then the budget alone, without HTTP (on a shared machine the HTTP runs are dominated by everything else): 50,000
 * credentials each take and settle one slot; the CPU per new credential over the first 1,000 and over the last
 * 1,000 is compared (a sweep per new credential made the last ones cost O(n) each), with the heap and the windows
 * held at the end.
 *
 *   npm run bench:tokens                 # 50,000 requests per run
 *   BENCH_REQUESTS=10000 npm run bench:tokens
 *   BENCH_HTTP=0 npm run bench:tokens    # the budget alone
 */
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { loadConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';
import { GatewayMetrics } from '../src/observability/metrics.ts';
import { startSimulator } from '../src/simulator/index.ts';
import { RequestBudget } from '../src/upstream/budget.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 50_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 120);
const CONCURRENCY = 32;
const QUERY = JSON.stringify({ query: '{ users(first: 1) { totalCount } }' });

interface Figures {
  label: string;
  requests: number;
  perSecond: number;
  cpuMsPerRequest: number;
  heapBeforeMiB: number;
  heapAfterMiB: number;
  budgetWindows: number;
}

function heapMiB(): number {
  const collect = (globalThis as { gc?: () => void }).gc;
  collect?.();
  return process.memoryUsage().heapUsed / 1_048_576;
}

async function runOnce(
  label: string,
  tokenFor: (i: number) => string,
  requests = REQUESTS,
): Promise<Figures> {
  const sim = await startSimulator({ rateLimits: 'relaxed' });
  // The default budget (100 a minute per token): each new token's window keeps its slot for a minute.
  const config = { ...loadConfig({ LOG_LEVEL: 'error' }), epmwareUrl: new URL(sim.url) };
  const gateway = createGateway(config, { logStream: { write() {} } });
  const url = await gateway.listen(0, '127.0.0.1');
  const heapBefore = heapMiB();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const stopAt = started + SECONDS * 1000;
  let next = 0;
  let done = 0;
  const client = async () => {
    while (next < requests && performance.now() < stopAt) {
      const i = next++;
      const response = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Token ${tokenFor(i)}` },
        body: QUERY,
      });
      await response.body.text();
      done++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const heapAfter = heapMiB();
  const { budgetWindows } = gateway.services.upstream.stateSizes();
  await gateway.close();
  await sim.close();
  return {
    label,
    requests: done,
    perSecond: done / seconds,
    cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / done,
    heapBeforeMiB: heapBefore,
    heapAfterMiB: heapAfter,
    budgetWindows,
  };
}

interface BudgetFigures {
  credentials: number;
  firstUs: number;
  lastUs: number;
  heapBeforeMiB: number;
  heapAfterMiB: number;
  windows: number;
}

/** CPU microseconds per new credential, over a block of `block` credentials. */
async function budgetAlone(count: number, block = 1_000): Promise<BudgetFigures> {
  const budget = new RequestBudget({ perMinute: 100, metrics: new GatewayMetrics() });
  const stopAt = performance.now() + SECONDS * 1000;
  const heapBefore = heapMiB();
  const blocks: number[] = [];
  let done = 0;
  while (done < count && performance.now() < stopAt) {
    const cpu = process.cpuUsage();
    for (let i = 0; i < block; i++, done++) {
      const permit = await budget.acquire({
        credentialKey: randomUUID().slice(0, 16),
        endpointClass: 'standard',
        priority: 'interactive',
        deadline: Date.now() + 30_000,
        endpoint: 'bench',
      });
      permit.settle();
    }
    const used = process.cpuUsage(cpu);
    blocks.push((used.user + used.system) / block);
  }
  const heapAfter = heapMiB();
  const windows = (budget as { size?: number }).size ?? -1;
  budget.close();
  return {
    credentials: done,
    firstUs: blocks[0] ?? 0,
    lastUs: blocks.at(-1) ?? 0,
    heapBeforeMiB: heapBefore,
    heapAfterMiB: heapAfter,
    windows,
  };
}

async function main(): Promise<void> {
  const alone = await budgetAlone(REQUESTS);
  process.stdout.write(
    [
      `The budget alone: ${alone.credentials} new credentials (of ${REQUESTS}), one slot each`,
      '',
      '| CPU µs/credential, first 1,000 | CPU µs/credential, last 1,000 | ratio last/first | heap before MiB | heap after MiB | windows held |',
      '| ---: | ---: | ---: | ---: | ---: | ---: |',
      `| ${alone.firstUs.toFixed(1)} | ${alone.lastUs.toFixed(1)} | ${(alone.lastUs / alone.firstUs).toFixed(2)} | ` +
        `${alone.heapBeforeMiB.toFixed(1)} | ${alone.heapAfterMiB.toFixed(1)} | ${alone.windows} |`,
      '',
      '',
    ].join('\n'),
  );
  // BENCH_HTTP=0: the budget alone (seconds instead of minutes).
  if (process.env.BENCH_HTTP === '0') return;
  // A discarded warm-up: the first requests of a process pay for JIT compilation, which would tax the first row.
  await runOnce('warm-up', (i) => `bench-token-${i % 100}`, Math.min(2_000, REQUESTS));
  const reference = await runOnce('100 tokens (reference)', (i) => `bench-token-${i % 100}`);
  const distinct = await runOnce(`${REQUESTS} distinct tokens`, () => randomUUID());
  const rows = [reference, distinct].map(
    (f) =>
      `| ${f.label} | ${f.requests} | ${f.perSecond.toFixed(0)} | ${f.cpuMsPerRequest.toFixed(2)} | ` +
      `${f.heapBeforeMiB.toFixed(1)} | ${f.heapAfterMiB.toFixed(1)} | ${f.budgetWindows} |`,
  );
  process.stdout.write(
    [
      `Many credentials: ${REQUESTS} requests per run, ${CONCURRENCY} concurrent clients, default budget`,
      '',
      '| tokens | requests | req/s | CPU ms/request | heap before MiB | heap after MiB | budget windows after |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
      '',
      `throughput ratio distinct/reference: ${(distinct.perSecond / reference.perSecond).toFixed(2)}; ` +
        `CPU per request ratio: ${(distinct.cpuMsPerRequest / reference.cpuMsPerRequest).toFixed(2)}` +
        ((globalThis as { gc?: unknown }).gc
          ? ''
          : ' (heap figures without --expose-gc: not collected first)'),
      '',
    ].join('\n'),
  );
}

await main();
