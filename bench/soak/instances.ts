/**
 * The chaos soak across instances: `npm run soak -- --instances 3 [--minutes M] [--clients N]` (issue #21 item 6,
 * "the budget holds through churn").
 *
 * A private redis-server (no persistence: restarted, it comes back EMPTY), the simulator in this process with
 * EPMware's documented rate limit ON (100 requests a minute per token) and the chaos faults (chaos.ts), N gateway
 * processes sharing the Redis (cluster.ts), each reaching the simulator through a forwarder that tells them apart
 * (forwarder.ts). The clients of the single-instance soak (workload.ts) plus the hostile client (hostile.ts) go
 * round robin over the instances up, while the churn (churn.ts) stops and restarts Redis and the instances.
 * Then the faults and the churn stop and every kind of query must answer with data within 10 s.
 *
 * It prints each churn event with its time, then one line per check and `N passed, M failed`; exit code 1 when a
 * check failed. Every child (redis-server, gateways) is killed on every way out (children.ts). Traffic goes to
 * 127.0.0.1 only; the run ends by itself.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Agent } from 'undici';
import { startSimulator } from '../../src/simulator/index.ts';
import { PrivateRedis } from '../../test/redis-support.ts';
import { calm, startChaos } from './chaos.ts';
import { clientChecks, hostileCheck, printChecks } from './checks.ts';
import { killOnExit } from './children.ts';
import { churnSchedule, outages, runChurn } from './churn.ts';
import { Cluster } from './cluster.ts';
import { type Forwarder, PortLedger, startForwarder } from './forwarder.ts';
import { HostileRecord, hostileClient } from './hostile.ts';
import { instanceChecks, printFigures } from './instances-checks.ts';
import { judgePolls, probePolls, startPollProbe } from './poll-probe.ts';
import { SoakRecord } from './record.ts';
import { awaitRecovery, recoveryProbes } from './recovery.ts';
import {
  HANG_MS,
  hostileOptions,
  MAX_UPLOAD_BYTES,
  SUBSCRIPTION_MS,
  UPLOAD_RATE_WINDOW_MS,
  UPSTREAM_TIMEOUT_MS,
} from './settings.ts';
import { soakTenants } from './tenants.ts';
import { client, receivedWrites, type Workload } from './workload.ts';

const RECOVERY_MS = 10_000;
const WARM_UP_MS = 10_000;
const SHUTDOWN_DRAIN_MS = 1_000;
const TASK_DURATION_MS = 4_000;
/** EPMware's documented limit, which the simulator enforces here: the gateways' budget must be the same. */
const RATE_LIMIT_PER_MIN = 100;
/**
 * What a gateway logs when Redis came back without the budget's window: it keeps the shared pool closed for that
 * long (src/redis/shared-budget.ts), and serves only from the instances' reserves meanwhile, on purpose. A budget
 * that does not do this never logs it.
 */
const POOL_CLOSED = /the shared pool stays closed for (\d+) ms/;

export interface InstancesSoakOptions {
  minutes: number;
  clients: number;
  instances: number;
}

/** Runs the soak; resolves with the exit code (0: every check passed). */
export async function soakInstances(options: InstancesSoakOptions): Promise<number> {
  const { minutes, clients, instances } = options;
  const began = Date.now();
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    process.stderr.write(
      'soak --instances starts a redis-server of its own: install it (apt-get install redis-server)\n',
    );
    return 2;
  }
  const redis = await PrivateRedis.start();
  killOnExit(() => void redis.stop());
  // Tokens of the primary tenant for the poll probe and the hostile client, with budgets of their own: every
  // get_status of the probe's token is a poll, and the hostile uploads reach the size limit whenever their own
  // budget (not one the workload spent) has an upload slot. The probe's task blocks one deployment's runs for the
  // soak: the clients' runs of it answer CONFLICT, a contract code.
  const probeToken = randomUUID();
  const hostileToken = randomUUID();
  const sim = await startSimulator({
    rateLimits: 'documented',
    latencyMs: 5,
    taskDurationMs: TASK_DURATION_MS,
    extraTokens: [probeToken, hostileToken],
  });
  const forwarders: Forwarder[] = [];
  const cluster = new Cluster(
    instances,
    (instance) => ({
      EPMWARE_URL: forwarders[instance]?.url ?? sim.url,
      PORT: '0',
      HOST: '127.0.0.1',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'epmware-gateway-soak:',
      GATEWAY_INSTANCES: String(instances),
      UPSTREAM_RATE_LIMIT_PER_MIN: String(RATE_LIMIT_PER_MIN),
      UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
      SHUTDOWN_DRAIN_MS: String(SHUTDOWN_DRAIN_MS),
      TASK_POLL_INTERVAL_MS: '500',
      MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
      UPLOAD_RATE_WINDOW_MS: String(UPLOAD_RATE_WINDOW_MS),
      LOG_LEVEL: 'info',
      EPMWARE_TOKEN: '',
    }),
    [sim.tokens.primary, sim.tokens.secondary, probeToken, hostileToken],
    SHUTDOWN_DRAIN_MS,
    POOL_CLOSED,
  );
  const dispatcher = new Agent({ connections: clients * 2, keepAliveTimeout: 10_000 });
  try {
    const ledger = new PortLedger();
    for (let instance = 0; instance < instances; instance++) {
      forwarders.push(await startForwarder(sim.url, instance, ledger));
    }
    await Promise.all(Array.from({ length: instances }, (_, instance) => cluster.start(instance)));

    const tenants = soakTenants(sim);
    const record = new SoakRecord();
    const hostile = new HostileRecord();
    const workload: Workload = {
      target: () => cluster.target(),
      tenants,
      record,
      hangMs: HANG_MS,
      subscriptionMs: SUBSCRIPTION_MS,
      dispatcher,
      endSubscriptions: true,
    };
    const probeDeployment = sim.fixtures.deploymentNames.find(
      (name) => name !== sim.fixtures.failingDeploymentName,
    );
    const probe = await startPollProbe(sim, cluster, probeToken, TASK_DURATION_MS, probeDeployment ?? '');
    process.stdout.write(
      `soak: ${instances} instances sharing redis-server on port ${redis.port}, EPMware's rate limit on ` +
        `(${RATE_LIMIT_PER_MIN}/min per token); ${WARM_UP_MS / 1000} s warm-up without faults, then ${minutes} min ` +
        `with faults and churn, ${clients} clients round robin and a hostile one; simulator ${sim.url}\n`,
    );
    await Promise.all(
      Array.from({ length: clients }, (_, index) => client(workload, index, Date.now() + WARM_UP_MS)),
    );

    const startedAt = Date.now();
    const until = startedAt + minutes * 60_000;
    const chaos = startChaos(sim, UPSTREAM_TIMEOUT_MS);
    const churn = runChurn(
      churnSchedule(minutes, instances),
      {
        stopRedis: () => redis.stop(),
        startRedis: () => redis.start(),
        restart: async (instance, signal) => {
          await cluster.stop(instance, signal);
          await cluster.start(instance);
        },
      },
      startedAt,
    );
    const writeChecker = setInterval(
      () => record.checkWrites(receivedWrites(sim), Date.now() - 3_000),
      15_000,
    );
    const progress = setInterval(() => {
      const elapsed = Math.round((Date.now() - startedAt) / 1000);
      process.stdout.write(`  +${elapsed} s: ${record.answers} answers, ${record.dataAnswers} with data\n`);
    }, 20_000);
    await Promise.all([
      ...Array.from({ length: clients }, (_, index) => client(workload, index, until)),
      hostileClient(workload, hostile, hostileOptions(tenants[0].erpConfigName, hostileToken), until),
    ]);
    clearInterval(progress);
    // The last churn event may still be bringing an instance up: recovery is timed from when everything stopped.
    await churn.done;
    chaos.stop();
    calm(sim);
    const calmAt = Date.now();
    // Recovery is timed from the last event, and a pool the gateways closed when Redis came back empty is one: it
    // reopens by design a window later. Until then most queries are refused RATE_LIMITED however healthy the
    // instances are, so the probes start when it has reopened (the figures say when that was).
    const poolReopensAt = poolReopening(cluster);
    if (poolReopensAt > Date.now()) {
      process.stdout.write(
        `  +${Math.round((poolReopensAt - startedAt) / 1000)} s: waiting for the budget's pool to reopen\n`,
      );
      await new Promise((resolve) => setTimeout(resolve, poolReopensAt - Date.now()));
    }
    const recoveryFrom = Date.now();
    const recovery = await awaitRecovery(
      recoveryProbes(tenants, sim.fixtures.succeededTaskId),
      () => cluster.target().url,
      dispatcher,
      performance.now(),
      RECOVERY_MS,
    );

    // Let in-flight writes land, then match every write against the simulator's log.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    record.checkWrites(receivedWrites(sim), Date.now());
    clearInterval(writeChecker);
    await probe.stop();
    const running = Array.from({ length: instances }, (_, instance) => cluster.current(instance));
    const stillUp = running.filter((each) => each !== null && each.gateway.exited() === null).length;
    await cluster.stopAll();

    const windows = outages(churn.events);
    const polls = judgePolls(probePolls(sim, ledger, probe.taskId, probeToken), windows, startedAt);
    const context = {
      sim,
      cluster,
      record,
      events: churn.events,
      windows,
      polls,
      recovery,
      recoveryMs: RECOVERY_MS,
      calmAt,
      recoveryFrom,
      poolReopensAt: poolReopensAt > 0 ? poolReopensAt : null,
      began,
      startedAt,
      stillUp,
      instances,
      tokens: {
        primary: sim.tokens.primary,
        secondary: sim.tokens.secondary,
        probe: probeToken,
        hostile: hostileToken,
      },
    };
    const checks = [
      ...instanceChecks(context),
      ...clientChecks(record, HANG_MS, SUBSCRIPTION_MS),
      hostileCheck(hostile),
    ];
    printFigures(context, chaos.counts);
    const failed = printChecks(checks);
    process.stdout.write(`${checks.length - failed} passed, ${failed} failed\n`);
    return failed > 0 ? 1 : 0;
  } finally {
    await cluster.stopAll().catch(() => {});
    await dispatcher.close().catch(() => {});
    for (const forwarder of forwarders) await forwarder.close();
    await sim.close();
    await redis.stop();
  }
}

/** When the last pool closure any gateway logged ends (Date.now()), or 0 when none logged one. */
function poolReopening(cluster: Cluster): number {
  let reopens = 0;
  for (const each of cluster.processes) {
    for (const { at, line } of each.gateway.output().notable) {
      const ms = Number(POOL_CLOSED.exec(line)?.[1] ?? 0);
      reopens = Math.max(reopens, at + ms);
    }
  }
  return reopens;
}
