/**
 * The instances soak's own checks (the clients' checks are checks.ts'), and its figures:
 * (a) no rate-limit 429 from the simulator, per token, with each one's time against the churn events;
 * (b) one poller per task outside Redis outages (poll-probe.ts);
 * (d) availability while Redis is down (availability.ts says what "available" means);
 * (e) recovery within 10 s of the last event;
 * (f) no token and no crash in any gateway's output, no gateway that exited unasked, RSS under a ceiling.
 */
import type { Simulator } from '../../src/simulator/index.ts';
import type { ChaosKind } from './chaos.ts';
import { type Check, mb, samplesOf } from './checks.ts';
import { type ChurnEvent, describeEvent } from './churn.ts';
import type { Cluster } from './cluster.ts';
import type { PollFigures } from './poll-probe.ts';
import type { SoakRecord } from './record.ts';
import { describeRecovery, type Recovered } from './recovery.ts';

/** As the single-instance soak: twice the highest per-minute median of 50-client runs, per process. */
const RSS_CEILING_BYTES = 512 * 1024 * 1024;
const MIN_AVAILABILITY = 0.95;

export interface InstancesRun {
  sim: Simulator;
  cluster: Cluster;
  record: SoakRecord;
  events: ChurnEvent[];
  windows: Array<{ from: number; to: number }>;
  polls: PollFigures;
  recovery: Recovered[];
  recoveryMs: number;
  /** Date.now() when the faults, the churn and the clients had all stopped. */
  calmAt: number;
  /** Date.now() when the recovery probes began: calmAt, or later when a pool the gateways closed reopened then. */
  recoveryFrom: number;
  poolReopensAt: number | null;
  /** Date.now() when the soak began (before Redis, the simulator and the gateways started), and its faulted run. */
  began: number;
  startedAt: number;
  /** Instances whose process was still running at the end. */
  stillUp: number;
  instances: number;
  tokens: { primary: string; secondary: string; probe: string; hostile: string };
}

const seconds = (run: InstancesRun, at: number) => `+${((at - run.startedAt) / 1000).toFixed(1)} s`;

/** "+31.2 s, 1.4 s after Redis restarted empty (+29.8 s)": a time against the latest event before it. */
function againstEvents(run: InstancesRun, at: number): string {
  const before = run.events.filter((event) => event.at <= at).at(-1);
  if (!before) return `${seconds(run, at)}, before any churn`;
  return `${seconds(run, at)}, ${((at - before.at) / 1000).toFixed(1)} s after ${describeEvent(before)} (${seconds(run, before.at)})`;
}

function rateLimitCheck(run: InstancesRun): Check {
  const names = new Map([
    [run.tokens.primary, 'primary'],
    [run.tokens.secondary, 'secondary'],
    [run.tokens.probe, 'poll probe'],
    [run.tokens.hostile, 'hostile client'],
  ]);
  const refused = run.sim.requests().filter((call) => call.rateLimited);
  const perToken = new Map<string, number>();
  for (const call of refused) {
    const name = names.get(call.token ?? '') ?? 'other';
    perToken.set(name, (perToken.get(name) ?? 0) + 1);
  }
  const counts = [...names.values()].map((name) => `${name} ${perToken.get(name) ?? 0}`).join(', ');
  return {
    name: "no rate-limit 429 from EPMware (the simulator's own limit, not the injected 429s)",
    passed: refused.length === 0,
    detail: `${refused.length} (${counts})${samplesOf(
      refused
        .slice(0, 6)
        .map((call) => `${names.get(call.token ?? '') ?? 'other'} at ${againstEvents(run, call.at)}`),
    )}`,
  };
}

function pollerCheck(run: InstancesRun): Check {
  const { polls } = run;
  return {
    name: 'one poller per task outside Redis outages (no two instances polling the probe task at once)',
    passed: polls.judged > 0 && polls.interleaved === 0,
    detail:
      `${polls.interleaved} interleaved polls of ${polls.judged} outside the outages (${polls.polls} in all, by ` +
      `instance ${JSON.stringify(polls.byInstance)}), ${polls.handOvers} hand-overs${samplesOf(polls.samples)}`,
  };
}

function availabilityCheck(run: InstancesRun): Check {
  let counted = 0;
  let available = 0;
  let data = 0;
  let interrupted = 0;
  let newcomers = 0;
  for (const sample of run.cluster.samples) {
    const window = run.windows.find((each) => sample.sentAt >= each.from && sample.sentAt < each.to);
    if (!window) continue;
    // An instance started during the outage cannot know what its predecessor spent: it is not counted.
    if (sample.process.startedAt >= window.from) {
      newcomers++;
      continue;
    }
    if (sample.availability === 'interrupted') {
      interrupted++;
      continue;
    }
    counted++;
    if (sample.availability !== 'unavailable') available++;
    if (sample.availability === 'data') data++;
  }
  const share = counted > 0 ? available / counted : 0;
  const outageSeconds = run.windows.map((each) => ((each.to - each.from) / 1000).toFixed(1)).join(', ');
  return {
    name: `availability at least ${MIN_AVAILABILITY} while Redis is down, on instances running before it went`,
    passed: counted > 0 && share >= MIN_AVAILABILITY,
    detail:
      `${share.toFixed(3)} (${available} of ${counted} answers available, ${data} with data; outages ${outageSeconds} s); ` +
      `not counted: ${newcomers} answers of instances started during an outage (they cannot know what their ` +
      `predecessor spent, so they may refuse upstream work until Redis is back), ${interrupted} cut by a stop`,
  };
}

function recoveryCheck(run: InstancesRun): Check {
  const slow = run.recovery.filter((probe) => probe.ms === null);
  const last = run.events.at(-1);
  return {
    name: `after the last event, every kind of query answers with data for both tokens within ${run.recoveryMs / 1000} s`,
    passed: slow.length === 0,
    detail:
      `${describeRecovery(run.recovery)} (timed from ${seconds(run, run.recoveryFrom)}: the faults, the clients ` +
      `and the churn had stopped at ${seconds(run, run.calmAt)}, the last churn event was ` +
      `${last ? `${describeEvent(last)} at ${seconds(run, last.at)}` : 'none'}, ` +
      `${run.poolReopensAt === null ? "no gateway closed the budget's pool" : `the budget's pool, closed when Redis came back empty, reopened at ${seconds(run, run.poolReopensAt)}`})`,
  };
}

function outputCheck(run: InstancesRun): Check {
  let lines = 0;
  let tokenLines = 0;
  const crashLines: string[] = [];
  const unasked: string[] = [];
  for (const each of run.cluster.processes) {
    const output = each.gateway.output();
    lines += output.lines;
    tokenLines += output.tokenLines;
    crashLines.push(...output.crashLines);
    const exit = each.gateway.exited();
    if (exit && !each.stop)
      unasked.push(`instance ${each.instance} pid ${each.gateway.pid} ${JSON.stringify(exit)}`);
  }
  const failedEvents = run.events.filter((event) => event.error);
  return {
    name: 'no token and no crash in any gateway output; no gateway exited unasked; every restart came up',
    passed:
      tokenLines === 0 &&
      crashLines.length === 0 &&
      unasked.length === 0 &&
      failedEvents.length === 0 &&
      run.stillUp === run.instances,
    detail:
      `${run.cluster.processes.length} processes, ${lines} lines, ${tokenLines} with a token, ${crashLines.length} ` +
      `crash reports, ${unasked.length} exited unasked, ${failedEvents.length} churn events failed, ` +
      `${run.stillUp} of ${run.instances} up at the end` +
      samplesOf([...crashLines, ...unasked, ...failedEvents.map((event) => `${event.kind}: ${event.error}`)]),
  };
}

function rssCheck(run: InstancesRun): Check {
  const peaks = run.cluster.processes.map((each) =>
    Math.max(0, ...each.gateway.rss().map((sample) => sample.bytes)),
  );
  const peak = Math.max(0, ...peaks);
  return {
    name: `RSS of every gateway process never above ${RSS_CEILING_BYTES / 1024 / 1024} MB`,
    passed: peak > 0 && peak <= RSS_CEILING_BYTES,
    detail: `peaks ${peaks.map(mb).join(', ')}`,
  };
}

export function instanceChecks(run: InstancesRun): Check[] {
  return [
    rateLimitCheck(run),
    pollerCheck(run),
    availabilityCheck(run),
    recoveryCheck(run),
    outputCheck(run),
    rssCheck(run),
  ];
}

export function printFigures(run: InstancesRun, chaos: Map<ChaosKind, number>): void {
  const { record } = run;
  const upstream = run.sim.requests().filter((call) => call.path.startsWith('/service/api/'));
  process.stdout.write('\nfigures:\n');
  process.stdout.write(`  answers ${record.answers}, with data ${record.dataAnswers}\n`);
  process.stdout.write(`  error codes ${JSON.stringify(Object.fromEntries(record.codes))}\n`);
  process.stdout.write(`  actions ${JSON.stringify(Object.fromEntries(record.byAction))}\n`);
  process.stdout.write(
    `  cut by a stopped instance ${JSON.stringify(Object.fromEntries(record.interruptions))}\n`,
  );
  process.stdout.write(`  chaos ${JSON.stringify(Object.fromEntries(chaos))}\n`);
  process.stdout.write(
    `  churn ${run.events.length} events: ${run.events
      .map((event) => `${describeEvent(event)} ${seconds(run, event.at)}`)
      .join(', ')}\n`,
  );
  process.stdout.write(
    `  EPMware received ${upstream.length} requests, ${upstream.filter((call) => call.rateLimited).length} ` +
      'refused by its rate limit\n',
  );
  const afterCalm = upstream.filter((call) => call.at >= run.recoveryFrom);
  process.stdout.write(
    `  during recovery EPMware received ${afterCalm.length} requests: primary ` +
      `${afterCalm.filter((call) => call.token === run.tokens.primary).length}, secondary ` +
      `${afterCalm.filter((call) => call.token === run.tokens.secondary).length}\n`,
  );
  process.stdout.write(
    `  wall-clock so far ${Math.round((Date.now() - run.began) / 1000)} s (the faulted run began at ` +
      `${Math.round((run.startedAt - run.began) / 1000)} s, everything had stopped at ` +
      `${Math.round((run.calmAt - run.began) / 1000)} s)\n\n`,
  );
}
