/**
 * Many credentials: 50,000 requests, each with a token never seen before, against the gateway in front of the
 * simulator (unknown tokens answer 401 there, which costs the gateway the same budget window, cache lookup and
 * upstream request as a real one). Reference in the same run: the same number of requests spread over only 100
 * tokens. Prints throughput, CPU ms per request (this process' own CPU time: load generator, gateway and
 * simulator together, alike in both runs) and the heap before and after (after a GC when run with --expose-gc,
 * which `npm run bench:tokens` does). Bounded: each run stops after BENCH_SECONDS (default 120) whatever it reached.
 *
 *   npm run bench:tokens                 # 50,000 requests per run
 *   BENCH_REQUESTS=10000 npm run bench:tokens
 */
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { loadConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';
import { startSimulator } from '../src/simulator/index.ts';

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

async function main(): Promise<void> {
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
