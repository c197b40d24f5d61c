/**
 * Reports benchmark: the same persisted query (AccessReviewReport, 1,000 users with their groups) fetched as JSON
 * from POST /graphql {documentId} — the reference — and as rows from GET /reports/<id>.csv and .ndjson, in the same
 * run against the same gateway process. The report route runs the query through Yoga (yoga.fetch) and re-reads its
 * JSON before writing rows, so this shows what that costs: gateway CPU ms per request from /proc/<pid>/stat
 * (utime + stime of the gateway process alone), and the client's median latency. The upstream cache is kept warm
 * (a long CACHE_TTL_MS) so every request costs EPMware nothing and only the gateway's own work is measured.
 * Bounded: a fixed number of sequential requests per path. `npm run bench:reports`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { buildManifest } from '../scripts/build-documents.ts';
import { startSimulator } from '../src/simulator/index.ts';
import { startGatewayProcess } from '../test/gateway-process.ts';
import type { BenchResult } from './types.ts';

const USERS = 1_000;
const WARM_UP = 5;
const ROUNDS = 40;
/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const TICKS_PER_SECOND = 100;

function cpuTicks(pid: number): number {
  // Fields after the ")" of the command name: state is field 3, utime 14, stime 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

interface Measure {
  cpuMsPerRequest: number;
  p50Ms: number;
  bytes: number;
}

async function measure(pid: number, send: () => Promise<number>): Promise<Measure> {
  for (let i = 0; i < WARM_UP; i++) await send();
  const times: number[] = [];
  let bytes = 0;
  const before = cpuTicks(pid);
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now();
    bytes = await send();
    times.push(performance.now() - started);
  }
  const cpuMs = ((cpuTicks(pid) - before) * 1000) / TICKS_PER_SECOND;
  times.sort((a, b) => a - b);
  return { cpuMsPerRequest: cpuMs / ROUNDS, p50Ms: times[Math.floor(ROUNDS / 2)] ?? 0, bytes };
}

export async function run(): Promise<BenchResult> {
  const manifest = buildManifest();
  const id =
    Object.entries(manifest).find(([, text]) => text.startsWith('query AccessReviewReport'))?.[0] ?? '';
  const dir = mkdtempSync(join(tmpdir(), 'bench-reports-'));
  const manifestPath = join(dir, 'persisted-documents.json');
  writeFileSync(manifestPath, JSON.stringify(manifest));
  const sim = await startSimulator({ rateLimits: 'relaxed', users: USERS });
  const gateway = await startGatewayProcess({
    EPMWARE_URL: sim.url,
    PERSISTED_DOCUMENTS: manifestPath,
    CACHE_TTL_MS: '600000',
    UPSTREAM_RATE_LIMIT_PER_MIN: '100000',
    LOG_LEVEL: 'error',
  });
  const pid = gateway.child.pid ?? 0;
  const headers = { authorization: `Token ${sim.tokens.primary}` };
  const variables = JSON.stringify({ first: USERS });
  const check = (status: number, path: string) => {
    if (status !== 200) throw new Error(`${path} answered ${status}`);
  };
  const json = async () => {
    const response = await request(gateway.url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ documentId: id, variables: { first: USERS } }),
    });
    check(response.statusCode, '/graphql');
    return (await response.body.arrayBuffer()).byteLength;
  };
  const rows = (format: 'csv' | 'ndjson') => async () => {
    const url = new URL(`/reports/${id}.${format}`, gateway.url);
    url.searchParams.set('variables', variables);
    const response = await request(url, { headers });
    check(response.statusCode, url.pathname);
    return (await response.body.arrayBuffer()).byteLength;
  };

  try {
    const reference = await measure(pid, json);
    const csv = await measure(pid, rows('csv'));
    const ndjson = await measure(pid, rows('ndjson'));
    const line = (label: string, m: Measure) =>
      `| ${label} | ${(m.bytes / 1024).toFixed(0)} KB | ${m.cpuMsPerRequest.toFixed(1)} | ${(m.cpuMsPerRequest / reference.cpuMsPerRequest).toFixed(2)}× | ${m.p50Ms.toFixed(1)} ms |`;
    const table = [
      '| path (AccessReviewReport, 1,000 users) | body | gateway CPU ms / request | CPU vs JSON | client p50 |',
      '| --- | ---: | ---: | ---: | ---: |',
      line('POST /graphql {documentId} → JSON (reference)', reference),
      line('GET /reports/<id>.csv', csv),
      line('GET /reports/<id>.ndjson', ndjson),
    ].join('\n');
    return {
      name: 'Reports: rows versus JSON for the same persisted query',
      table,
      notes:
        `${ROUNDS} sequential requests per path after ${WARM_UP} warm-up requests, one gateway process, upstream ` +
        'answers cached (no EPMware work in the figures). CPU is utime + stime of the gateway process from ' +
        '/proc/<pid>/stat (10 ms ticks) over all requests of a path, divided by their number.',
    };
  } finally {
    await gateway.stop();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run();
  process.stdout.write(`## ${result.name}\n\n${result.table}\n\n${result.notes ?? ''}\n`);
  process.exit(0);
}
