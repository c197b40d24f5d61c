/**
 * The chaos soak: `npm run soak -- --minutes 5 --clients 50`. With `--instances 3`, the chaos soak across three
 * instances sharing Redis instead (bench/soak/instances.ts).
 *
 * The simulator runs here with faults changing at random every 2-5 s (bench/soak/chaos.ts); the gateway runs as
 * its own process (bench/soak/gateway-process.ts); N clients mix reads, writes, uploads, downloads and
 * subscriptions over both of the simulator's tokens (bench/soak/workload.ts). Then the faults stop and every kind
 * of query must answer with data within 5 s. A hostile client (bench/soak/hostile.ts) sends crash uploads and
 * oversized tokens all along. It prints one line per check, then `N passed, M failed` alone on a line, and exits 1
 * when a check failed. Traffic goes to 127.0.0.1 only; the run ends by itself.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { startSimulator } from '../src/simulator/index.ts';
import { calm, startChaos } from './soak/chaos.ts';
import { type Check, clientChecks, hostileCheck, mb, median, printChecks, samplesOf } from './soak/checks.ts';
import { startSoakGateway } from './soak/gateway-process.ts';
import { HostileRecord, hostileClient } from './soak/hostile.ts';
import { SoakRecord } from './soak/record.ts';
import { awaitRecovery, describeRecovery, recoveryProbes } from './soak/recovery.ts';
import {
  HANG_MS,
  hostileOptions,
  MAX_UPLOAD_BYTES,
  SUBSCRIPTION_MS,
  UPLOAD_RATE_WINDOW_MS,
  UPSTREAM_TIMEOUT_MS,
} from './soak/settings.ts';
import { soakTenants } from './soak/tenants.ts';
import { client, receivedWrites, type Target, type Workload } from './soak/workload.ts';

const RECOVERY_MS = 5_000;
const RSS_TOLERANCE = 0.15;
/** Shorter runs are still growing into their working size under faults: their RSS trend says nothing of a leak. */
const RSS_TREND_MIN_MINUTES = 3;
/** Twice the highest per-minute median of 50-client runs (about 256 MB): a gross leak, however short the run. */
const RSS_CEILING_BYTES = 512 * 1024 * 1024;
/** Traffic without faults before the soak proper: the first minute's RSS is then a warmed-up process'. */
const WARM_UP_MS = 15_000;

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    clients: { type: 'string' },
    instances: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const instances = values.instances === undefined ? 1 : Number.parseInt(values.instances, 10);
if (instances !== 1) {
  const clients = Number.parseInt(values.clients ?? '24', 10);
  if (!(minutes > 0) || !(clients > 0) || !(instances >= 2)) {
    process.stderr.write('usage: npm run soak -- --instances <n ≥ 2> [--minutes <m>] [--clients <n>]\n');
    process.exit(2);
  }
  const { soakInstances } = await import('./soak/instances.ts');
  process.exit(await soakInstances({ minutes, clients, instances }));
}
const clients = Number.parseInt(values.clients ?? '50', 10);
if (!(minutes > 0) || !(clients > 0)) {
  process.stderr.write('usage: npm run soak -- --minutes <m> --clients <n>\n');
  process.exit(2);
}

const sim = await startSimulator({ rateLimits: 'relaxed', latencyMs: 5, taskDurationMs: 4_000 });
const { primary, secondary } = sim.tokens;
const gateway = await startSoakGateway(
  {
    EPMWARE_URL: sim.url,
    PORT: '0',
    HOST: '127.0.0.1',
    UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
    TASK_POLL_INTERVAL_MS: '500',
    // The simulator's own limits are relaxed: the soak is about faults; its 429s are injected.
    UPSTREAM_RATE_LIMIT_PER_MIN: '1000000',
    LOG_LEVEL: 'info',
    EPMWARE_TOKEN: '',
    MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
    UPLOAD_RATE_WINDOW_MS: String(UPLOAD_RATE_WINDOW_MS),
  },
  [primary, secondary],
);

const { fixtures } = sim;
const tenants = soakTenants(sim);
const record = new SoakRecord();
const hostile = new HostileRecord();
const dispatcher = new Agent({ connections: clients * 2, keepAliveTimeout: 10_000 });
// One gateway: every request goes to it, and none is ever cut by a stop.
const only: Target = { url: gateway.url, answered() {}, interrupted: () => false };
const workload: Workload = {
  target: () => only,
  tenants,
  record,
  hangMs: HANG_MS,
  subscriptionMs: SUBSCRIPTION_MS,
  dispatcher,
};

process.stdout.write(
  `soak: ${WARM_UP_MS / 1000} s warm-up without faults, then ${minutes} min with faults, ${clients} clients; ` +
    `gateway pid ${gateway.pid} at ${gateway.url.href}, simulator ${sim.url}\n`,
);
await Promise.all(
  Array.from({ length: clients }, (_, index) => client(workload, index, Date.now() + WARM_UP_MS)),
);

// The clients and the simulator share this process: its event-loop delay says how late it may have read answers.
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();
const startedAt = Date.now();
const cpuStart = readCpuMs(gateway.pid);
const chaos = startChaos(sim, UPSTREAM_TIMEOUT_MS);
const writeChecker = setInterval(() => record.checkWrites(receivedWrites(sim), Date.now() - 3_000), 15_000);
const progress = setInterval(() => {
  const elapsed = Math.round((Date.now() - startedAt) / 1000);
  process.stdout.write(`  ${elapsed} s: ${record.answers} answers, ${record.dataAnswers} with data\n`);
}, 30_000);
const until = startedAt + minutes * 60_000;
await Promise.all([
  ...Array.from({ length: clients }, (_, index) => client(workload, index, until)),
  hostileClient(workload, hostile, hostileOptions(tenants[0].erpConfigName, primary), until),
]);
clearInterval(progress);
chaos.stop();
calm(sim);

// Recovery: with the faults gone, every kind of query, for both tokens, must answer with data within 5 s.
const calmAt = performance.now();
const readyAtCalm = await request(new URL('/readyz', gateway.url)).then(
  async (response) => `${response.statusCode} ${await response.body.text()}`,
  (error: unknown) => String(error),
);
const recovery = await awaitRecovery(
  recoveryProbes(tenants, fixtures.succeededTaskId),
  () => gateway.url,
  dispatcher,
  calmAt,
  RECOVERY_MS,
);

// Let in-flight writes land, then match every write against the simulator's log.
await new Promise((resolve) => setTimeout(resolve, 1_000));
record.checkWrites(receivedWrites(sim), Date.now());
clearInterval(writeChecker);
const cpuMs = readCpuMs(gateway.pid) - cpuStart;
const samples = gateway.rss();
const finalRss = samples.at(-1)?.bytes ?? 0;
// RSS over the faulted run, in thirds. The first is the heap growing into its working size under faults (the
// warm-up has none); after it, a leak makes the last third's median grow past the middle one's with the run's length,
// while single samples move with every collection and with pages V8 hands back.
const third = (until - startedAt) / 3;
const bytesBetween = (from: number, to: number) =>
  samples.filter((sample) => sample.atMs >= from && sample.atMs < to).map((sample) => sample.bytes);
const middleThird = bytesBetween(startedAt + third, startedAt + 2 * third);
const lastThird = bytesBetween(startedAt + 2 * third, until);
const baseline = median(middleThird);
const later = median(lastThird);
const peakRss = Math.max(
  0,
  ...samples.filter((sample) => sample.atMs <= until).map((sample) => sample.bytes),
);
const rssTrend: Check = {
  // One-sided: a leak makes RSS grow; a last third below the middle one is memory V8 handed back, not a fault.
  // Medians of thirds, not one sample at the end against the first minute: a 5-minute run of a gateway that
  // no longer holds GraphiQL's 45 MB ended 18.6 % above a first minute still growing into its working size,
  // its per-minute medians 185, 227, 210, 239, 235, 219 MB (up, then down: no leak).
  name: `RSS median of the run's last third at most ${RSS_TOLERANCE * 100} % above its middle third's`,
  passed: baseline > 0 && later > 0 && later - baseline <= RSS_TOLERANCE * baseline,
  detail: `last third ${mb(later)} (${lastThird.length} samples), middle third ${mb(baseline)} (${
    middleThird.length
  } samples), ${baseline > 0 ? `${(((later - baseline) / baseline) * 100).toFixed(1)} %` : 'no samples'}`,
};
const alive = gateway.exited() === null;
const output = gateway.output();
await gateway.stop();
await dispatcher.close();
await sim.close();

const slow = recovery.filter((probe) => probe.ms === null);
const checks: Check[] = [
  ...clientChecks(record, HANG_MS, SUBSCRIPTION_MS),
  hostileCheck(hostile),
  {
    name: 'no token and no unhandled rejection in the gateway output; the gateway still runs',
    passed: output.tokenLines === 0 && output.crashLines.length === 0 && alive,
    detail:
      `${output.lines} lines, ${output.tokenLines} with a token, ${output.crashLines.length} crash reports` +
      `${alive ? '' : ', the gateway exited'}${samplesOf(output.crashLines)}`,
  },
  {
    name: `RSS never above ${RSS_CEILING_BYTES / 1024 / 1024} MB`,
    passed: peakRss > 0 && peakRss <= RSS_CEILING_BYTES,
    detail: `peak ${mb(peakRss)} (${samples.length} samples)`,
  },
  ...(minutes >= RSS_TREND_MIN_MINUTES ? [rssTrend] : []),
  {
    name: `after the faults stop, every query answers with data within ${RECOVERY_MS / 1000} s`,
    passed: slow.length === 0,
    detail: `${describeRecovery(recovery)}; /readyz when the faults stopped: ${readyAtCalm.slice(0, 120)}`,
  },
];

process.stdout.write('\nfigures:\n');
process.stdout.write(`  answers ${record.answers}, with data ${record.dataAnswers}\n`);
process.stdout.write(`  error codes ${JSON.stringify(Object.fromEntries(record.codes))}\n`);
process.stdout.write(`  actions ${JSON.stringify(Object.fromEntries(record.byAction))}\n`);
process.stdout.write(`  chaos ${JSON.stringify(Object.fromEntries(chaos.counts))}\n`);
// Per-minute medians tell steady growth (a leak) from a high-water mark reached under the heaviest minute.
const perMinute: string[] = [];
for (let minute = 0; startedAt + minute * 60_000 < (samples.at(-1)?.atMs ?? 0); minute++) {
  const from = startedAt + minute * 60_000;
  const inMinute = samples.filter((sample) => sample.atMs >= from && sample.atMs < from + 60_000);
  if (inMinute.length) perMinute.push(mb(median(inMinute.map((sample) => sample.bytes))));
}
process.stdout.write(
  `  gateway RSS median per minute: ${perMinute.join(', ')}; at the end ${mb(finalRss)}\n`,
);
process.stdout.write(
  `  soak process event-loop delay p99 ${Math.round(loopDelay.percentile(99) / 1e6)} ms, ` +
    `max ${Math.round(loopDelay.max / 1e6)} ms\n`,
);
process.stdout.write(
  `  gateway CPU ${Math.round(cpuMs)} ms, ${(cpuMs / Math.max(1, record.answers)).toFixed(2)} ms per answer\n\n`,
);
const failed = printChecks(checks);
if (minutes < RSS_TREND_MIN_MINUTES) {
  process.stdout.write(
    `NOT JUDGED (runs under ${RSS_TREND_MIN_MINUTES} min) ${rssTrend.name}: ${rssTrend.detail}; the heap is still ` +
      'growing into its working size under faults\n',
  );
}
process.stdout.write(`${checks.length - failed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);

/** The gateway's own CPU time (user + system), from /proc/<pid>/stat, in ms. */
function readCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / 100;
  } catch {
    return 0;
  }
}
