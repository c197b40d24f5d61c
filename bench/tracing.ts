/**
 * What tracing costs: the gateway's CPU time per request with OpenTelemetry tracing on (OTLP http/protobuf to a
 * local receiver, every span sampled) against the same gateway with tracing off, measured in the same run.
 *
 * Each gateway is its own process (tracing is per process) started from src/main.ts against one in-process
 * simulator; its CPU time is read from /proc/<pid>/stat before and after a fixed number of requests, after a
 * warm-up. Off and on alternate (off, on, off, on) so a change in machine load hits both. Traffic goes to
 * 127.0.0.1 only, and the run is bounded by its request counts and a deadline per gateway.
 *
 *   npx tsx bench/tracing.ts            # prints a markdown table
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startSimulator } from '../src/simulator/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WARM_UP = 100;
const MEASURED = 1_000;
const CONCURRENCY = 8;
const START_DEADLINE_MS = 120_000;
/** Two upstream calls per request (two histories): a request span, an operation span and two client spans. */
const QUERY = 'query Bench { deployments(names: ["ASOALL", "PLANNING_DEV"]) { stats { runs successRate } } }';
const TICKS_PER_SECOND = 100;

function cpuMs(pid: number): number {
  // Fields 14 and 15 of /proc/<pid>/stat (after the parenthesised command): utime and stime in clock ticks.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

async function startReceiver() {
  let exports = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on('end', () => {
      exports++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts: () => ({ exports, bytes }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function runGateway(env: Record<string, string>, token: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'error', CACHE_TTL_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('gateway did not start')), START_DEADLINE_MS);
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const found = /GraphiQL at (\S+)/.exec(out);
        if (found?.[1]) {
          clearTimeout(timer);
          resolve(found[1]);
        }
      });
      child.once('exit', () => reject(new Error(`gateway exited: ${out}`)));
    });
    const send = async (count: number) => {
      let next = 0;
      const worker = async () => {
        while (next++ < count) {
          const response = await request(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Token ${token}` },
            body: JSON.stringify({ query: QUERY }),
          });
          const body = (await response.body.json()) as { errors?: unknown[] };
          if (response.statusCode !== 200 || body.errors)
            throw new Error(`bad answer: ${JSON.stringify(body)}`);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    };
    const pid = child.pid as number;
    await send(WARM_UP);
    const before = cpuMs(pid);
    const started = performance.now();
    await send(MEASURED);
    return { cpuPerRequestMs: (cpuMs(pid) - before) / MEASURED, wallMs: performance.now() - started };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

const simulator = await startSimulator({ rateLimits: 'relaxed' });
const receiver = await startReceiver();
const base = { EPMWARE_URL: simulator.url, UPSTREAM_RATE_LIMIT_PER_MIN: '1000000' };
const traced = {
  ...base,
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
};
const runs: Array<{ tracing: boolean; cpuPerRequestMs: number; wallMs: number }> = [];
try {
  for (const tracing of [false, true, false, true]) {
    const result = await runGateway(tracing ? traced : base, simulator.tokens.primary);
    runs.push({ tracing, ...result });
    process.stderr.write(
      `tracing ${tracing ? 'on ' : 'off'}: ${result.cpuPerRequestMs.toFixed(3)} CPU ms/request\n`,
    );
  }
} finally {
  await receiver.close();
  await simulator.close();
}

const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
const off = mean(runs.filter((r) => !r.tracing).map((r) => r.cpuPerRequestMs));
const on = mean(runs.filter((r) => r.tracing).map((r) => r.cpuPerRequestMs));
const { exports, bytes } = receiver.counts();
process.stdout.write(
  [
    `Tracing overhead (${new Date().toISOString()}, Node ${process.version}): ${MEASURED} measured requests per run ` +
      `after ${WARM_UP} warm-up, ${CONCURRENCY} concurrent; each request = 2 upstream calls = 4 spans when on.`,
    '',
    '| gateway | CPU ms / request (each run) | mean |',
    '| --- | ---: | ---: |',
    `| tracing off | ${runs
      .filter((r) => !r.tracing)
      .map((r) => r.cpuPerRequestMs.toFixed(3))
      .join(', ')} | ${off.toFixed(3)} |`,
    `| tracing on (OTLP http/protobuf) | ${runs
      .filter((r) => r.tracing)
      .map((r) => r.cpuPerRequestMs.toFixed(3))
      .join(', ')} | ${on.toFixed(3)} |`,
    `| on / off | | **${(on / off).toFixed(2)}×** |`,
    '',
    `The receiver got ${exports} OTLP exports (${Math.round(bytes / 1024)} KB) from the traced runs.`,
    '',
  ].join('\n'),
);
process.exit(0);
