/**
 * 1,000 concurrent SSE subscribers over 10 running tasks. Measures what the shared poller promises:
 * - upstream get_status calls per poll interval (goal: one per task, 10),
 * - gateway memory per idle subscriber (goal: at most 10 KB), measured in a child process that runs only the
 *   gateway, after gc(), so neither the simulator nor the 1,000 clients are counted,
 * - the delay from a status change in the simulator to the event at the client, as a fraction of the interval.
 *
 * The same file is the child: run with SUBSCRIPTION_BENCH_GATEWAY=1 it serves a gateway and answers `measure`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { loadConfig } from '../src/config.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import type { BenchResult } from './types.ts';

const SUBSCRIBERS = 1_000;
const TASKS = 10;
const INTERVAL_MS = 500;
/**
 * Long enough that every task stays RUNNING for the whole bench; a status change every TASK_MS / 10 = 4,309 ms,
 * which is no multiple of the interval, so successive changes fall at different points between two polls.
 */
const TASK_MS = 43_090;
const POLL_WINDOW_MS = 10_000;
const DELAY_WINDOW_MS = 14_000;

const QUERY = 'subscription ($id: ID!) { taskUpdates(taskId: $id) { taskId state percentCompleted } }';

interface Measurement {
  heapUsed: number;
  rss: number;
  subscriptions: number;
  pollers: number;
}

type ChildMessage = { port: number } | ({ measured: true } & Measurement);

if (process.env.SUBSCRIPTION_BENCH_GATEWAY === '1') await serveGateway();

export async function run(): Promise<BenchResult> {
  const sim = await startSimulator({ rateLimits: 'relaxed', taskDurationMs: TASK_MS });
  const gateway = await startGatewayProcess(sim.url);
  const agent = new Agent({ connections: SUBSCRIBERS + 100, pipelining: 0 });
  const subscribers: Subscriber[] = [];
  try {
    const url = `http://127.0.0.1:${gateway.port}/graphql`;
    // Warm-up: code paths, JIT and lazily built caches are paid before the baseline.
    const warmTask = await startRuns(sim, 1);
    const warm = await Promise.all(
      Array.from({ length: 20 }, () => subscribe(url, sim, warmTask[0]!, agent)),
    );
    await Promise.all(warm.map((each) => each.firstEvent));
    for (const each of warm) each.abort();
    await waitUntil(async () => (await gateway.measure()).subscriptions === 0);
    const baseline = await gateway.measure();

    // Submissions a tenth of an interval apart: the ten pollers' phases spread over the whole interval.
    const tasks = await startRuns(sim, TASKS, INTERVAL_MS / TASKS);
    for (let i = 0; i < SUBSCRIBERS; i++)
      subscribers.push(await subscribe(url, sim, tasks[i % TASKS]!, agent));
    await Promise.all(subscribers.map((each) => each.firstEvent));
    const loaded = await gateway.measure();

    // Polls per interval, over a window where all 1,000 are connected and idle between changes.
    sim.clearRequests();
    await sleep(POLL_WINDOW_MS);
    const polls = sim.requests({ path: '/service/api/task/get_status/*' }).length;
    const pollsPerInterval = polls / (POLL_WINDOW_MS / INTERVAL_MS);

    await sleep(DELAY_WINDOW_MS - POLL_WINDOW_MS);
    const delays = changeDelays(subscribers);

    const heapPer = (loaded.heapUsed - baseline.heapUsed) / SUBSCRIBERS;
    const rssPer = (loaded.rss - baseline.rss) / SUBSCRIBERS;
    const p50 = percentile(delays, 0.5);
    const p99 = percentile(delays, 0.99);
    const table = [
      '| measure | value | goal |',
      '| --- | ---: | ---: |',
      `| upstream get_status calls per poll interval (${TASKS} tasks, ${SUBSCRIBERS} subscribers) | ${pollsPerInterval.toFixed(1)} | ${TASKS} |`,
      `| gateway heap per idle subscriber | ${kb(heapPer)} | <= 10 KB |`,
      `| gateway RSS per idle subscriber (heap, sockets, buffers) | ${kb(rssPer)} | |`,
      `| status change -> client event, p50 | ${(p50 / INTERVAL_MS).toFixed(2)} x interval (${Math.round(p50)} ms) | |`,
      `| status change -> client event, p99 | ${(p99 / INTERVAL_MS).toFixed(2)} x interval (${Math.round(p99)} ms) | |`,
    ].join('\n');
    const notes =
      `TASK_POLL_INTERVAL_MS=${INTERVAL_MS}; gauges with all connected: ${loaded.subscriptions} subscriptions, ` +
      `${loaded.pollers} pollers; ${polls} polls in ${POLL_WINDOW_MS / 1000} s; ${delays.length} change events ` +
      'timed (the first event of each subscriber is the current state, not a change, and is not counted). ' +
      'Memory: gateway in its own process (--expose-gc), heapUsed and RSS after gc() with 1,000 open SSE ' +
      'subscriptions minus the same after a warm-up, divided by 1,000.';
    return { name: 'Subscriptions: 1,000 SSE subscribers over 10 tasks', table, notes };
  } finally {
    for (const each of subscribers) each.abort();
    await gateway.close();
    await agent.close();
    await sim.close();
  }
}

interface Subscriber {
  taskId: string;
  firstEvent: Promise<void>;
  /** (received at, percentCompleted) of every event after the first. */
  changes: Array<{ at: number; percent: number }>;
  abort(): void;
}

async function subscribe(url: string, sim: Simulator, taskId: string, agent: Agent): Promise<Subscriber> {
  const controller = new AbortController();
  const response = await request(url, {
    method: 'POST',
    dispatcher: agent,
    headers: {
      accept: 'text/event-stream',
      'content-type': 'application/json',
      authorization: `Token ${sim.tokens.primary}`,
    },
    body: JSON.stringify({ query: QUERY, variables: { id: taskId } }),
    signal: controller.signal,
  });
  const subscriber: Subscriber = {
    taskId,
    firstEvent: Promise.resolve(),
    changes: [],
    abort: () => controller.abort(),
  };
  let buffer = '';
  let events = 0;
  subscriber.firstEvent = new Promise((resolve, reject) => {
    response.body.on('data', (chunk: Buffer) => {
      const at = Date.now();
      buffer += chunk.toString('utf8');
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
        const data = /^data: (.+)$/m.exec(event)?.[1];
        if (!event.includes('event: next') || !data) continue;
        const percent = (JSON.parse(data) as { data: { taskUpdates: { percentCompleted: number } } }).data
          .taskUpdates.percentCompleted;
        if (events++ === 0) resolve();
        else subscriber.changes.push({ at, percent });
      }
    });
    response.body.on('error', (error: Error) => (events === 0 ? reject(error) : undefined));
  });
  return subscriber;
}

/** Delay from each change's moment in the simulator (its timeline is a pure function of time) to its event. */
function changeDelays(subscribers: Subscriber[]): number[] {
  const delays: number[] = [];
  for (const subscriber of subscribers) {
    const at = submittedAt.get(subscriber.taskId);
    if (at === undefined) continue;
    // Percent p (10..90) is reported from p% of the duration on.
    for (const change of subscriber.changes) delays.push(change.at - (at + (TASK_MS * change.percent) / 100));
  }
  return delays.sort((a, b) => a - b);
}

/** When the simulator received each run (its task's timeline starts there), by task id. */
const submittedAt = new Map<string, number>();

async function startRuns(sim: Simulator, count: number, spacingMs = 0): Promise<string[]> {
  const { fixtures } = sim;
  const candidates: Array<[string, { name: string }]> = [
    ...fixtures.deploymentNames.map((name) => ['deployment/run', { name }] as [string, { name: string }]),
    ...fixtures.exportNames.map((name) => ['export/run', { name }] as [string, { name: string }]),
    ...fixtures.erpConfigNames.map((name) => ['erp/run', { name }] as [string, { name: string }]),
  ];
  const taskIds: string[] = [];
  for (const [path, body] of candidates) {
    if (taskIds.length === count) break;
    if (taskIds.length > 0) await sleep(spacingMs);
    const response = await request(`${sim.url}/service/api/${path}`, {
      method: 'POST',
      headers: { authorization: `Token ${sim.tokens.primary}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = (await response.body.json()) as { taskId?: string };
    if (response.statusCode !== 200 || !answer.taskId) continue;
    const logged = sim.requests({ method: 'POST', path: `/service/api/${path}` }).at(-1);
    if (logged) submittedAt.set(answer.taskId, logged.at);
    taskIds.push(answer.taskId);
  }
  if (taskIds.length < count) throw new Error(`only ${taskIds.length} of ${count} runs could start`);
  return taskIds;
}

interface GatewayProcess {
  port: number;
  measure(): Promise<Measurement>;
  close(): Promise<void>;
}

async function startGatewayProcess(epmwareUrl: string): Promise<GatewayProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url)],
    {
      env: {
        ...process.env,
        SUBSCRIPTION_BENCH_GATEWAY: '1',
        EPMWARE_URL: epmwareUrl,
        TASK_POLL_INTERVAL_MS: String(INTERVAL_MS),
        UPSTREAM_RATE_LIMIT_PER_MIN: '1000000',
        LOG_LEVEL: 'error',
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const next = () =>
    new Promise<ChildMessage>((resolve, reject) => {
      child.once('message', (message) => resolve(message as ChildMessage));
      child.once('exit', (code) => reject(new Error(`bench gateway exited with ${code}`)));
    });
  const ready = await next();
  if (!('port' in ready)) throw new Error('bench gateway did not report its port');
  return {
    port: ready.port,
    async measure() {
      const answer = next();
      child.send('measure');
      const measured = await answer;
      if (!('measured' in measured)) throw new Error('bench gateway did not measure');
      return measured;
    },
    async close() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('close');
      await Promise.race([exited, sleep(5_000)]);
      if (child.exitCode === null) child.kill();
    },
  };
}

/** The child: a gateway and nothing else, answering `measure` and `close` over IPC. */
async function serveGateway(): Promise<void> {
  const { createGateway } = await import('../src/gateway.ts');
  const gateway = createGateway(loadConfig(process.env));
  const url = await gateway.listen(0, '127.0.0.1');
  const collect = globalThis.gc;
  if (!collect) throw new Error('run with --expose-gc');
  process.on('message', async (message) => {
    if (message === 'measure') {
      for (let i = 0; i < 3; i++) {
        collect();
        await sleep(50);
      }
      const { heapUsed, rss } = process.memoryUsage();
      const { activeSubscriptions, activePollers } = gateway.services.metrics;
      process.send?.({
        measured: true,
        heapUsed,
        rss,
        subscriptions: (await activeSubscriptions.get()).values[0]?.value ?? 0,
        pollers: (await activePollers.get()).values[0]?.value ?? 0,
      } satisfies ChildMessage);
    } else if (message === 'close') {
      await gateway.close();
      process.exit(0);
    }
  });
  process.send?.({ port: Number(url.port) } satisfies ChildMessage);
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition()) && Date.now() < deadline) await sleep(100);
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
