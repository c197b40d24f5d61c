/**
 * Task-poller fan-out across instances (issue #13): 30 SSE subscribers to one running task, spread round-robin
 * over 1, 2 and 4 gateway instances on one simulator. For each count it measures upstream get_status calls per
 * poll interval twice in the same run:
 * - reference: each instance on its own (no REDIS_URL), as before: one poller per instance;
 * - shared: the instances share Redis: one lease holder polls, the others relay through pub/sub.
 * and reports the ratio shared / reference, plus this process' CPU ms per poll interval (every instance, the
 * simulator and the subscribers run in this one process, so the figure is the whole system's).
 *
 *   npm run bench:pollers            (REDIS_URL defaults to redis://127.0.0.1:6379/0; keys under a random prefix)
 *
 * Traffic goes to 127.0.0.1 only; every phase is bounded in time and the process exits by itself.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'graphql-sse';
import type { Gateway } from '../src/gateway.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { startDeploymentRun, startInstances } from '../test/pollers-instances.ts';
import { deleteKeys } from '../test/redis-support.ts';

const INTERVAL_MS = 250;
const SUBSCRIBERS = 30;
const WINDOW_MS = 5_000;
const INSTANCE_COUNTS = [1, 2, 4];
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const PREFIX = `bench-pollers-${randomUUID().slice(0, 8)}:`;
const QUERY = 'subscription ($id: ID!) { taskUpdates(taskId: $id) { state percentCompleted } }';

interface Phase {
  instances: number;
  shared: boolean;
  pollsPerInterval: number;
  cpuMsPerInterval: number;
  eventsDelivered: number;
}

async function main(): Promise<void> {
  const sim = await startSimulator({ rateLimits: 'relaxed', taskDurationMs: 600_000 });
  const phases: Phase[] = [];
  try {
    // One task for every phase: it stays RUNNING (600 s) far beyond the bench.
    const taskId = await startDeploymentRun(sim);
    for (const instances of INSTANCE_COUNTS) {
      for (const shared of [false, true]) phases.push(await phase(sim, taskId, instances, shared));
    }
  } finally {
    await sim.close();
    // No Redis: nothing was written.
    await deleteKeys(REDIS_URL, PREFIX).catch(() => {});
  }
  print(phases);
  process.exit(0);
}

async function phase(sim: Simulator, taskId: string, count: number, shared: boolean): Promise<Phase> {
  const gateways = await startInstances(sim, count, {
    TASK_POLL_INTERVAL_MS: String(INTERVAL_MS),
    ...(shared ? { REDIS_URL, REDIS_KEY_PREFIX: PREFIX } : {}),
  });
  if (shared) await until(() => gateways.every(({ gateway }) => gateway.services.taskWatcher.sharing));
  let events = 0;
  const subscribers = Array.from({ length: SUBSCRIBERS }, (_, i) => {
    const { url } = gateways[i % count] as { url: URL };
    const client = createClient({
      url: url.href,
      headers: { authorization: `Token ${sim.tokens.primary}` },
      retryAttempts: 0,
    });
    let joined = false;
    const unsubscribe = client.subscribe(
      { query: QUERY, variables: { id: taskId } },
      {
        next: () => {
          joined = true;
          events++;
        },
        error: () => {},
        complete: () => {},
      },
    );
    return { client, unsubscribe, joined: () => joined };
  });
  await until(() => subscribers.every((each) => each.joined()));

  const path = `/service/api/task/get_status/${taskId}`;
  const callsBefore = sim.requests({ path }).length;
  const eventsBefore = events;
  const cpuBefore = process.cpuUsage();
  const startedAt = Date.now();
  await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
  const elapsed = Date.now() - startedAt;
  const cpu = process.cpuUsage(cpuBefore);
  const calls = sim.requests({ path }).length - callsBefore;

  for (const each of subscribers) {
    each.unsubscribe();
    each.client.dispose();
  }
  await Promise.all(gateways.map(({ gateway }) => closeQuietly(gateway)));
  const intervals = elapsed / INTERVAL_MS;
  return {
    instances: count,
    shared,
    pollsPerInterval: calls / intervals,
    cpuMsPerInterval: (cpu.user + cpu.system) / 1000 / intervals,
    eventsDelivered: events - eventsBefore,
  };
}

async function closeQuietly(gateway: Gateway): Promise<void> {
  await Promise.race([gateway.close(), new Promise((resolve) => setTimeout(resolve, 5_000))]);
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('bench: condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function print(phases: Phase[]): void {
  process.stdout.write(
    `Task-poller fan-out: ${SUBSCRIBERS} SSE subscribers to one task, interval ${INTERVAL_MS} ms, ` +
      `${WINDOW_MS / 1000} s window per phase\n\n`,
  );
  process.stdout.write(
    '| instances | get_status per interval (own pollers) | with Redis | ratio | CPU ms per interval (own / Redis) |\n',
  );
  process.stdout.write('| --- | --- | --- | --- | --- |\n');
  for (const instances of INSTANCE_COUNTS) {
    const own = phases.find((each) => each.instances === instances && !each.shared);
    const shared = phases.find((each) => each.instances === instances && each.shared);
    if (!own || !shared) continue;
    process.stdout.write(
      `| ${instances} | ${own.pollsPerInterval.toFixed(2)} | ${shared.pollsPerInterval.toFixed(2)} | ` +
        `${(shared.pollsPerInterval / own.pollsPerInterval).toFixed(2)} | ` +
        `${own.cpuMsPerInterval.toFixed(1)} / ${shared.cpuMsPerInterval.toFixed(1)} |\n`,
    );
  }
}

await main();
