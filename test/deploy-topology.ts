/**
 * deploy/compose.yaml's topology as real processes on this machine: a private redis-server, the simulator, three
 * `node dist/main.js` gateways with the compose file's gateway environment (addresses replaced by loopback ones),
 * and Debian's haproxy running deploy/haproxy/haproxy.cfg itself, with the variables compose gives it. Each gateway
 * keeps its port for the topology's lifetime, so one that is stopped can be started again behind the same HAProxy
 * server (a rolling restart is stop, start, wait until HAProxy has it back, for each instance).
 *
 * Gateway i may reach EPMware through a forwarder of its own (`cutUpstream`/`restoreUpstream`): its /readyz then
 * turns 503 while the process keeps serving, which is what HAProxy's checks must see.
 *
 * Everything it starts is stopped by `close()`, and SIGKILLed if the test process exits first.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { type Simulator, type SimulatorOptions, startSimulator } from '../src/simulator/index.ts';
import { DEPLOY_DIR, gatewayServices, haproxyVariables, readCompose } from './deploy-files.ts';
import { freePort } from './free-port.ts';
import { BUILT_ENTRY, type GatewayProcess, startGatewayProcess } from './gateway-process.ts';
import { PrivateRedis } from './redis-support.ts';

/** null when Debian's haproxy is installed; under CI=true its absence is an error (.ci/run installs it). */
export function haproxyMissing(): string | null {
  if (spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0) return null;
  const missing = 'the haproxy binary is not installed (apt-get install haproxy)';
  if (process.env.CI === 'true') throw new Error(`CI=true and ${missing}`);
  process.stderr.write(`SKIPPED the HAProxy topology test: ${missing}\n`);
  return missing;
}

/** A TCP forwarder to the simulator that can be cut (refusing connections) and restored on the same port. */
class UpstreamForwarder {
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();
  private constructor(
    readonly port: number,
    private readonly target: number,
  ) {}

  static async start(target: number): Promise<UpstreamForwarder> {
    const forwarder = new UpstreamForwarder(await freePort(), target);
    await forwarder.restore();
    return forwarder;
  }

  restore(): Promise<void> {
    const server = createServer((client) => {
      const upstream = tcpConnect(this.target, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.once('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const socket of this.#sockets) socket.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}

/** One row of HAProxy's stats CSV for a gateway server. */
export interface ServerStats {
  /** UP, DOWN, "UP 1/2" (going down), "DOWN 1/2" (coming up), MAINT, … */
  status: string;
  /** HTTP requests HAProxy sent it. */
  requests: number;
  /** Requests that failed on it and were sent to another server. */
  redispatches: number;
}

export interface TopologyGateway {
  /** The compose service name, which is also its HAProxy server name. */
  readonly name: string;
  readonly port: number;
  /** Its METRICS_PORT (compose's 9464 for each container; one free port each here), null when compose sets none. */
  readonly metricsPort: number | null;
  process: GatewayProcess | null;
}

export interface Topology {
  sim: Simulator;
  redis: PrivateRedis;
  gateways: TopologyGateway[];
  /** HAProxy's front: http://127.0.0.1:PORT/graphql */
  url: URL;
  /** HAProxy's log (its stdout), for a failing test's message. */
  haproxyLog(): string;
  /** Per server name. */
  stats(): Promise<Record<string, ServerStats>>;
  /** Polls the stats until `server`'s status is `status` (UP or DOWN, settled). */
  waitForStatus(server: string, status: 'UP' | 'DOWN', timeoutMs?: number): Promise<void>;
  startGateway(index: number): Promise<void>;
  /** SIGKILL (a crash) or SIGTERM (a stop), and its exit. */
  stopGateway(index: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Gateway `index`'s upstream refuses connections (its /readyz turns 503) / accepts them again. */
  cutUpstream(index: number): Promise<void>;
  restoreUpstream(index: number): Promise<void>;
  close(): Promise<void>;
}

export interface TopologyOptions {
  /** Added to every gateway's environment (e.g. a shorter TASK_POLL_INTERVAL_MS). */
  env?: Record<string, string>;
  /** The simulator's options (relaxed rate limits unless given). */
  simulator?: SimulatorOptions;
}

/** Every child this module started, SIGKILLed if the test process exits without closing them. */
const children = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const each of children) each.kill('SIGKILL');
    });
  }
}

/** The gateway environment compose gives gateway-1 (all three are the same anchor). */
function composeGatewayEnv(): Record<string, string> {
  const [first] = gatewayServices(readCompose());
  return { ...first?.[1].environment };
}

/** The variables compose gives HAProxy, with loopback addresses in place of the service names and ports. */
function haproxyEnv(gateways: TopologyGateway[], bind: number, statsBind: number): Record<string, string> {
  const composed = readCompose().services.haproxy?.environment ?? {};
  const env: Record<string, string> = {
    HAPROXY_BIND: `127.0.0.1:${bind}`,
    HAPROXY_STATS_BIND: `127.0.0.1:${statsBind}`,
  };
  for (const [index, gateway] of gateways.entries())
    env[`GATEWAY_${index + 1}`] = `127.0.0.1:${gateway.port}`;
  // Each variable compose sets is replaced here, and nothing else is invented.
  const names = Object.keys(env).sort();
  if (JSON.stringify(names) !== JSON.stringify(Object.keys(composed).sort())) {
    throw new Error(`compose gives HAProxy ${Object.keys(composed)}, the test ${names}`);
  }
  for (const name of haproxyVariables().keys()) {
    if (!(name in env)) throw new Error(`haproxy.cfg expands ${name}, which the test does not set`);
  }
  return env;
}

function parseStats(csv: string): Record<string, ServerStats> {
  const [header, ...rows] = csv.trim().split('\n');
  const columns = (header ?? '').replace(/^# /, '').split(',');
  const at = (row: string[], column: string) => row[columns.indexOf(column)] ?? '';
  const servers: Record<string, ServerStats> = {};
  for (const line of rows) {
    const row = line.split(',');
    if (at(row, 'pxname') !== 'gateways' || ['FRONTEND', 'BACKEND'].includes(at(row, 'svname'))) continue;
    servers[at(row, 'svname')] = {
      status: at(row, 'status'),
      requests: Number(at(row, 'req_tot') || 0),
      redispatches: Number(at(row, 'wredis') || 0),
    };
  }
  return servers;
}

export async function startTopology(options: TopologyOptions = {}): Promise<Topology> {
  const sim = await startSimulator({ rateLimits: 'relaxed', ...options.simulator });
  const simPort = Number(new URL(sim.url).port);
  const redis = await PrivateRedis.start();
  const names = gatewayServices(readCompose()).map(([name]) => name);
  const composedMetrics = composeGatewayEnv().METRICS_PORT !== undefined;
  const gateways: TopologyGateway[] = [];
  const forwarders: UpstreamForwarder[] = [];
  for (const name of names) {
    const metricsPort = composedMetrics ? await freePort() : null;
    gateways.push({ name, port: await freePort(), metricsPort, process: null });
    forwarders.push(await UpstreamForwarder.start(simPort));
  }
  let haproxy: ChildProcess | null = null;
  let log = '';

  const gatewayEnv = (index: number): Record<string, string> => ({
    ...composeGatewayEnv(),
    // The addresses compose resolves by service name, here on loopback.
    EPMWARE_URL: `http://127.0.0.1:${forwarders[index]?.port}`,
    REDIS_URL: redis.url,
    HOST: '127.0.0.1',
    PORT: String(gateways[index]?.port),
    ...(gateways[index]?.metricsPort ? { METRICS_PORT: String(gateways[index]?.metricsPort) } : {}),
    NODE_OPTIONS: '',
    ...options.env,
  });

  const topology: Topology = {
    sim,
    redis,
    gateways,
    url: new URL('http://127.0.0.1/graphql'),
    haproxyLog: () => log,
    async stats() {
      const response = await request(`${statsOrigin}/stats;csv`);
      return parseStats(await response.body.text());
    },
    async waitForStatus(server, status, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        // HAProxy's stats page may not listen yet on the first polls.
        const current = await topology.stats().then(
          (servers) => servers[server]?.status,
          () => 'no stats yet',
        );
        if (current === status) return;
        if (haproxy && haproxy.exitCode !== null) throw new Error(`haproxy exited (${haproxy.exitCode})`);
        if (Date.now() > deadline)
          throw new Error(`${server} is ${current}, not ${status}, after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async startGateway(index) {
      const gateway = gateways[index];
      if (!gateway || gateway.process) throw new Error(`gateway ${index} is running or unknown`);
      gateway.process = await startGatewayProcess(gatewayEnv(index), BUILT_ENTRY);
      track(gateway.process.child);
    },
    async stopGateway(index, signal) {
      const gateway = gateways[index];
      const running = gateway?.process;
      if (!gateway || !running) return;
      gateway.process = null;
      if (signal === 'SIGKILL') {
        running.child.kill('SIGKILL');
        await running.exited;
      } else {
        await running.stop();
      }
    },
    cutUpstream: (index) => forwarders[index]?.cut() ?? Promise.resolve(),
    restoreUpstream: (index) => forwarders[index]?.restore() ?? Promise.resolve(),
    async close() {
      if (haproxy && haproxy.exitCode === null) {
        const stopped = new Promise((resolve) => haproxy?.once('exit', resolve));
        haproxy.kill('SIGKILL');
        await stopped;
      }
      await Promise.all(gateways.map((_, index) => topology.stopGateway(index, 'SIGTERM')));
      await Promise.all(forwarders.map((forwarder) => forwarder.cut()));
      await redis.stop();
      await sim.close();
    },
  };

  let statsOrigin = '';
  try {
    await Promise.all(gateways.map((_, index) => topology.startGateway(index)));
    const [bind, statsBind] = [await freePort(), await freePort()];
    statsOrigin = `http://127.0.0.1:${statsBind}`;
    topology.url = new URL(`http://127.0.0.1:${bind}/graphql`);
    haproxy = spawn('haproxy', ['-db', '-f', join(DEPLOY_DIR, 'haproxy', 'haproxy.cfg')], {
      env: { PATH: process.env.PATH, ...haproxyEnv(gateways, bind, statsBind) },
    });
    track(haproxy);
    const append = (chunk: string) => {
      // Bounded: the last 256 kB is what a failure message needs.
      log = (log + chunk).slice(-256_000);
    };
    haproxy.stdout?.setEncoding('utf8').on('data', append);
    haproxy.stderr?.setEncoding('utf8').on('data', append);
    for (const gateway of gateways) await topology.waitForStatus(gateway.name, 'UP');
    return topology;
  } catch (error) {
    await topology.close();
    throw new Error(`the topology did not start: ${(error as Error).message}\n${log}`);
  }
}
