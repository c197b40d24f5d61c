/**
 * No drift between deploy/ and the gateway: every variable the Dockerfile, compose file, Kubernetes manifests and
 * systemd unit set is one the gateway reads (CONFIG_VARIABLES, from loadConfig itself) and every value loads; every
 * port agrees with PORT; every path a probe, health check or scrape names answers 200 on a running gateway; and the
 * numbers that must agree across files (instances, grace periods, check timing) do.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, loadConfig } from '../src/config.ts';
import {
  copies,
  deployFile,
  dockerignore,
  execForm,
  gatewayServices,
  haproxyVariables,
  instructions,
  type Manifest,
  readCompose,
  readDockerfile,
  readEnvFile,
  readKubernetes,
  readUnit,
  resource,
  single,
  stageEnv,
  stageNamed,
} from './deploy-files.ts';
import { CONTRACT_VARIABLES, PROJECT_ROOT } from './gateway-process.ts';
import { stackForFile } from './harness.ts';

/** Read by Node.js or npm, not by the gateway's configuration. */
const PLATFORM_VARIABLES = ['NODE_ENV', 'NODE_OPTIONS'];

/** The contract's default SHUTDOWN_DRAIN_MS (issue #21): how long /readyz says 503 before the listener closes. */
const CONTRACT_DRAIN_MS = 5_000;

/** The old preStop pause the drain replaces: Kubernetes' endpoints and the Ingress need about this long to follow. */
const ENDPOINT_PROPAGATION_MS = 5_000;

function source(path: string): string {
  return readFileSync(join(PROJECT_ROOT, path), 'utf8');
}

/** main.ts' SHUTDOWN_GRACE_MS, read from the source: how long in-flight work may run after SIGTERM. */
const SHUTDOWN_GRACE_MS = Number(
  /const SHUTDOWN_GRACE_MS = ([\d_]+)/.exec(source('src/main.ts'))?.[1]?.replaceAll('_', ''),
);

/** The variables `npm run simulator` (src/simulator/main.ts) reads. */
const SIMULATOR_VARIABLES = new Set(
  [...source('src/simulator/main.ts').matchAll(/(?:intFromEnv\('|process\.env\.)(SIM_[A-Z_]+)/g)].map(
    (match) => match[1],
  ),
);

/** Variables a deployment file sets that the gateway does not read. */
function unknownVariables(env: Record<string, string>): string[] {
  return Object.keys(env).filter(
    (name) => !CONFIG_VARIABLES.includes(name) && !PLATFORM_VARIABLES.includes(name),
  );
}

const dockerfile = readDockerfile();
const runtime = dockerfile.at(-1);
if (!runtime) throw new Error('deploy/Dockerfile has no stage');
const imageEnv = stageEnv(runtime);
const healthcheck = execForm(single(runtime, 'HEALTHCHECK').args);
const compose = readCompose();
const gateways = gatewayServices(compose);
const manifests = readKubernetes();
const unitText = deployFile('systemd', 'epmware-gateway.service');
const unit = readUnit(unitText);
const unitService = unit.get('Service') ?? [];
const envFileExample = readEnvFile(deployFile('systemd', 'gateway.env.example'));
const haproxyCfg = deployFile('haproxy', 'haproxy.cfg');

interface Probe {
  httpGet?: { path: string; port: string | number };
  timeoutSeconds?: number;
}
interface Container {
  image: string;
  ports: Array<{ name?: string; containerPort: number }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  env?: Array<{ name: string; value?: string }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
}
interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels: Record<string, string> };
  template: {
    metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
    spec: {
      terminationGracePeriodSeconds: number;
      securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
      containers: Container[];
    };
  };
}
interface ServiceSpec {
  selector: Record<string, string>;
  ports: Array<{ port: number; targetPort: string | number }>;
}

const deployment = resource(manifests, 'Deployment', 'epmware-gateway');
const deploymentSpec = deployment.spec as DeploymentSpec;
const container = deploymentSpec.template.spec.containers[0] as Container;

/** The gateway's environment in Kubernetes: the ConfigMap and Secret it takes whole, then its own `env`. */
function podEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const ref: Manifest | undefined = from.configMapRef
      ? resource(manifests, 'ConfigMap', from.configMapRef.name)
      : from.secretRef
        ? resource(manifests, 'Secret', from.secretRef.name)
        : undefined;
    if (!ref) throw new Error('envFrom other than a ConfigMap or Secret');
    Object.assign(env, ref.data ?? {}, ref.stringData ?? {});
  }
  for (const { name, value } of container.env ?? []) env[name] = value ?? '';
  return env;
}

/** Milliseconds from a compose duration ("30s", "1m30s", "500ms"). */
function composeMs(value: string): number {
  const parts = [...value.matchAll(/(\d+)(ms|s|m|h)/g)];
  if (parts.map((part) => part[0]).join('') !== value) throw new Error(`not a compose duration: ${value}`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
  return parts.reduce((sum, part) => sum + Number(part[1]) * unit[part[2] as keyof typeof unit], 0);
}

/** Milliseconds from an HAProxy time ("2s", "500ms", "1m"). */
function haproxyMs(value: string): number {
  const match = /^(\d+)(ms|s|m)?$/.exec(value);
  if (!match) throw new Error(`not an HAProxy time: ${value}`);
  const unit = match[2] === 'ms' ? 1 : match[2] === 'm' ? 60_000 : 1_000;
  return Number(match[1]) * unit;
}

/** Which of the gateway's two ports a deployment file points at: PORT, or METRICS_PORT. */
type PortKind = 'public' | 'metrics';

/** A Kubernetes port (a name of the container's ports, or a number) as PORT or METRICS_PORT. */
function kubernetesPortKind(port: string | number | undefined): PortKind | '(neither)' {
  const config = loadConfig({ ...imageEnv, ...podEnv() });
  const number =
    typeof port === 'number' ? port : container.ports.find((each) => each.name === port)?.containerPort;
  if (number === config.port) return 'public';
  if (number === config.metricsPort) return 'metrics';
  return '(neither)';
}

/** Each path a deployment file points something at, the port it asks, and the file that does. */
function probedPaths(): Array<[path: string, port: PortKind | '(neither)', where: string]> {
  const paths: Array<[string, PortKind | '(neither)', string]> = [];
  const inHealthcheck = /'(\/[a-z]+)'/.exec(healthcheck.join(' '))?.[1];
  // process.env.PORT: checked by 'HEALTHCHECK asks the port the gateway listens on'.
  paths.push([inHealthcheck ?? '(none)', 'public', 'Dockerfile HEALTHCHECK']);
  for (const match of haproxyCfg.matchAll(/^\s*http-check send .*\buri (\S+)/gm)) {
    // The servers' addresses are each gateway's PORT: checked by the compose test.
    paths.push([match[1] ?? '', 'public', 'haproxy.cfg http-check']);
  }
  for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
    const probe = container[kind]?.httpGet;
    if (probe) paths.push([probe.path, kubernetesPortKind(probe.port), `deployment.yaml ${kind}`]);
  }
  const annotations = deploymentSpec.template.metadata.annotations ?? {};
  const scrape = annotations['prometheus.io/path'];
  if (scrape) {
    const port = kubernetesPortKind(Number(annotations['prometheus.io/port']));
    paths.push([scrape, port, 'deployment.yaml prometheus.io/path']);
  }
  return paths;
}

describe('CONFIG_VARIABLES', () => {
  it('holds every variable loadConfig reads: the contract’s and the rest', () => {
    expect(CONFIG_VARIABLES).toEqual(expect.arrayContaining(CONTRACT_VARIABLES));
    expect(CONFIG_VARIABLES).toEqual(
      expect.arrayContaining(['REDIS_URL', 'GATEWAY_INSTANCES', 'PERSISTED_DOCUMENTS_ONLY']),
    );
    expect(new Set(CONFIG_VARIABLES).size).toBe(CONFIG_VARIABLES.length);
  });
});

describe('deploy/Dockerfile', () => {
  it('is on Node 20 slim, runs node dist/main.js as a non-root user, stops with SIGTERM', () => {
    const engines = (JSON.parse(source('package.json')) as { engines: { node: string } }).engines.node;
    for (const stage of dockerfile) expect(stage.from, stage.name).toBe('node:20-slim');
    expect(engines).toMatch(/^>=20\./);
    expect(execForm(single(runtime, 'CMD').args)).toEqual(['node', 'dist/main.js']);
    // dist/main.js is what `npm run build` makes of src/main.ts (tsconfig.build.json: src -> dist).
    const build = JSON.parse(source('tsconfig.build.json')) as { compilerOptions: Record<string, string> };
    expect([build.compilerOptions.rootDir, build.compilerOptions.outDir]).toEqual(['src', 'dist']);
    expect(existsSync(join(PROJECT_ROOT, 'src', 'main.ts'))).toBe(true);
    const user = single(runtime, 'USER').args;
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(single(runtime, 'STOPSIGNAL').args).toBe('SIGTERM');
  });

  it('sets only variables the gateway reads, with values it accepts; no EPMWARE_URL; EXPOSE is PORT', () => {
    expect(unknownVariables(imageEnv)).toEqual([]);
    expect(imageEnv).toMatchObject({ NODE_ENV: 'production', HOST: '0.0.0.0' });
    // The production entry refuses to start without it: an image never serves the simulator by default.
    expect(imageEnv.EPMWARE_URL).toBeUndefined();
    const config = loadConfig(imageEnv);
    expect(single(runtime, 'EXPOSE').args).toBe(String(config.port));
  });

  it('HEALTHCHECK asks the port the gateway listens on', () => {
    expect(healthcheck.slice(0, 2)).toEqual(['node', '-e']);
    expect(healthcheck[2]).toContain(`process.env.PORT || ${loadConfig(imageEnv).port}`);
  });

  it('copies from the build context only what .dockerignore lets in, and files that exist', () => {
    const allowed = dockerignore();
    expect(allowed[0]).toBe('*');
    for (const stage of dockerfile) {
      for (const copy of copies(stage).filter((each) => each.from === null)) {
        for (const path of copy.sources) {
          expect(allowed, `${stage.name}: COPY ${path}`).toContain(`!${path.replace(/\/$/, '')}`);
          expect(existsSync(join(PROJECT_ROOT, path)), path).toBe(true);
        }
      }
    }
    const scripts = (JSON.parse(source('package.json')) as { scripts: Record<string, string> }).scripts;
    for (const { args } of instructions(stageNamed(dockerfile, 'build'), 'RUN')) {
      const script = /^npm run (\S+)/.exec(args)?.[1];
      if (script) expect(scripts[script], args).toBeDefined();
    }
  });
});

describe('deploy/compose.yaml', () => {
  it('runs three gateways whose variables the gateway reads and whose values it accepts', () => {
    expect(gateways.map(([name]) => name)).toEqual(['gateway-1', 'gateway-2', 'gateway-3']);
    for (const [name, service] of gateways) {
      const env = service.environment ?? {};
      expect(unknownVariables(env), name).toEqual([]);
      const config = loadConfig({ ...imageEnv, ...env });
      // While Redis is down each instance spends its share: the shares add up to the budget.
      expect(config.gatewayInstances, name).toBe(gateways.length);
      expect(config.redisUrl?.hostname, name).toBe('redis');
      expect(compose.services.redis).toBeDefined();
      // EPMWARE_URL is the simulator service, on the port it is told to listen on, on an address others reach.
      const simulator = compose.services[config.epmwareUrl?.hostname ?? ''];
      expect(simulator?.command).toEqual(['node', 'dist/simulator/main.js']);
      expect(simulator?.environment?.SIM_PORT).toBe(config.epmwareUrl?.port);
      expect(simulator?.environment?.SIM_HOST).toBe('0.0.0.0');
    }
  });

  it('drains on SIGTERM within stop_grace_period; METRICS_PORT is exposed to the project, never published or balanced', () => {
    const haproxy = compose.services.haproxy;
    for (const [name, service] of gateways) {
      const config = loadConfig({ ...imageEnv, ...service.environment });
      expect(config.shutdownDrainMs, name).toBe(CONTRACT_DRAIN_MS);
      const stopMs = composeMs(service.stop_grace_period ?? '10s');
      expect(stopMs, name).toBeGreaterThan(config.shutdownDrainMs + SHUTDOWN_GRACE_MS);
      expect(config.metricsPort, name).not.toBeNull();
      expect(config.metricsPort, name).not.toBe(config.port);
      expect(service.expose, name).toEqual([String(config.metricsPort)]);
      // No gateway publishes a port: clients come through HAProxy, whose servers are each gateway's PORT.
      expect(service.ports, name).toBeUndefined();
      for (const address of Object.values(haproxy?.environment ?? {})) {
        expect(address.endsWith(`:${config.metricsPort}`), `${name}: HAProxy ${address}`).toBe(false);
      }
    }
  });

  it('the simulator service sets only variables `npm run simulator` reads, and runs a file the build emits', () => {
    const simulator = compose.services.simulator;
    for (const name of Object.keys(simulator?.environment ?? {})) expect(SIMULATOR_VARIABLES).toContain(name);
    expect(existsSync(join(PROJECT_ROOT, 'src', 'simulator', 'main.ts'))).toBe(true);
  });

  it('HAProxy gets every variable haproxy.cfg needs, pointing at each gateway service on its PORT', () => {
    const haproxy = compose.services.haproxy;
    expect(haproxy?.volumes).toContain('./haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro');
    const environment = haproxy?.environment ?? {};
    const variables = haproxyVariables(haproxyCfg);
    for (const [name, fallback] of variables) {
      if (fallback === null) expect(environment[name], name).toBeDefined();
    }
    for (const name of Object.keys(environment)) expect([...variables.keys()]).toContain(name);
    const servers = [...haproxyCfg.matchAll(/^\s*server (\S+) "\$\{(\w+)\}"/gm)];
    expect(servers.map((match) => match[1])).toEqual(gateways.map(([name]) => name));
    for (const [, server, variable] of servers) {
      const service = gateways.find(([name]) => name === server)?.[1];
      const port = loadConfig({ ...imageEnv, ...service?.environment }).port;
      expect(environment[variable ?? ''], server).toBe(`${server}:${port}`);
    }
    // The ports published are the ones HAProxy binds.
    const published = (haproxy?.ports ?? []).map((mapping) => mapping.split(':').at(-1));
    expect(published).toEqual([
      environment.HAPROXY_BIND?.split(':').at(-1),
      environment.HAPROXY_STATS_BIND?.split(':').at(-1),
    ]);
  });
});

describe('deploy/haproxy/haproxy.cfg', () => {
  it('takes an instance out of rotation within the drain compose sets: before its listener closes', () => {
    const line = /^\s*default-server (.*)$/m.exec(haproxyCfg)?.[1] ?? '';
    const option = (name: string) => haproxyMs(new RegExp(`\\b${name} (\\S+)`).exec(line)?.[1] ?? 'missing');
    const fall = Number(/\bfall (\d+)/.exec(line)?.[1]);
    // The worst case: a check just passed when /readyz turned 503; the next one fails, the rest come at fastinter.
    const outAfterMs = option('inter') + (fall - 1) * option('fastinter');
    for (const [name, service] of gateways) {
      const { shutdownDrainMs } = loadConfig({ ...imageEnv, ...service.environment });
      // Half the drain at most: a check delayed by a busy machine still lands inside it (the rolling restart test
      // checks on HAProxy's log that every instance went DOWN on a 503, never on a refused connection).
      expect(2 * outAfterMs, name).toBeLessThanOrEqual(shutdownDrainMs);
    }
    expect(haproxyCfg).toMatch(/^\s*balance roundrobin$/m);
    expect(haproxyCfg).toMatch(/^\s*timeout tunnel \S+$/m);
  });
});

describe('deploy/kubernetes', () => {
  it('the pod takes its whole environment from the ConfigMap and Secret, with names and values the gateway reads', () => {
    const env = podEnv();
    expect(unknownVariables(env)).toEqual([]);
    const config = loadConfig({ ...imageEnv, ...env });
    expect(config.epmwareUrl).not.toBeNull();
    // Secrets are not in the ConfigMap, and the ConfigMap holds no secret.
    const secret = resource(manifests, 'Secret', 'epmware-gateway');
    const configMap = resource(manifests, 'ConfigMap', 'epmware-gateway');
    expect(Object.keys(secret.stringData ?? {})).toEqual(
      expect.arrayContaining(['EPMWARE_TOKEN', 'REDIS_URL']),
    );
    expect(Object.keys(configMap.data ?? {})).not.toEqual(expect.arrayContaining(['EPMWARE_TOKEN']));
    expect(Object.keys(configMap.data ?? {})).not.toContain('REDIS_URL');
    expect(config.gatewayInstances).toBe(deploymentSpec.replicas);
    // REDIS_URL names the Redis Service the manifests bring.
    const redis = resource(manifests, 'Service', config.redisUrl?.hostname ?? '');
    expect((redis.spec as ServiceSpec).ports[0]?.port).toBe(Number(config.redisUrl?.port));
  });

  it('the container port is PORT; probes and the Service use it by name', () => {
    const config = loadConfig({ ...imageEnv, ...podEnv() });
    const [port] = container.ports;
    expect(port?.containerPort).toBe(config.port);
    for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
      expect(probe?.httpGet?.port).toBe(port?.name);
    }
    const service = resource(manifests, 'Service', 'epmware-gateway').spec as ServiceSpec;
    expect(service.ports.map((each) => each.targetPort)).toEqual([port?.name]);
    // METRICS_PORT: a container port of its own, which the annotation names and the Service does not expose.
    expect(config.metricsPort).not.toBeNull();
    const metrics = container.ports.find((each) => each.containerPort === config.metricsPort);
    expect(metrics?.name).toBe('metrics');
    expect(deploymentSpec.template.metadata.annotations?.['prometheus.io/port']).toBe(
      String(config.metricsPort),
    );
    expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(container.livenessProbe?.httpGet?.path).toBe('/healthz');
  });

  it('the Service and the PodDisruptionBudget select the Deployment’s pods', () => {
    const labels = deploymentSpec.template.metadata.labels;
    expect(labels).toMatchObject(deploymentSpec.selector.matchLabels);
    expect(labels).toMatchObject(
      (resource(manifests, 'Service', 'epmware-gateway').spec as ServiceSpec).selector,
    );
    const pdb = resource(manifests, 'PodDisruptionBudget', 'epmware-gateway').spec as {
      selector: { matchLabels: Record<string, string> };
      maxUnavailable: number;
    };
    expect(labels).toMatchObject(pdb.selector.matchLabels);
    expect(pdb.maxUnavailable).toBeLessThan(deploymentSpec.replicas);
  });

  it('the drain replaces the preStop pause, and the grace period outlasts the drain and the in-flight grace', () => {
    const { shutdownDrainMs } = loadConfig({ ...imageEnv, ...podEnv() });
    // The drain keeps a terminating pod serving while the endpoints follow, which a `sleep` in preStop did; both
    // would only add up.
    expect(container.lifecycle?.preStop).toBeUndefined();
    expect(shutdownDrainMs).toBeGreaterThanOrEqual(ENDPOINT_PROPAGATION_MS);
    expect(SHUTDOWN_GRACE_MS).toBeGreaterThan(0);
    expect(deploymentSpec.template.spec.terminationGracePeriodSeconds * 1_000).toBeGreaterThan(
      shutdownDrainMs + SHUTDOWN_GRACE_MS,
    );
    // The readiness probe's timeout covers /readyz's own wait on an unreachable EPMware (2 s).
    expect(container.readinessProbe?.timeoutSeconds).toBeGreaterThan(2);
  });

  it('the image is the one compose builds, run as the image’s non-root user, read-only', () => {
    expect(container.image).toBe(gateways[0]?.[1].image);
    expect(deploymentSpec.template.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
    });
    // 1000 is the `node` user of the official Node images, which the Dockerfile's USER names.
    expect(single(runtime, 'USER').args).toBe('node');
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
  });
});

describe('deploy/systemd', () => {
  const values = (key: string) => unitService.filter(([name]) => name === key).map(([, value]) => value);

  it('runs node dist/main.js as its own user with the environment file the example shows', () => {
    expect(values('ExecStart')).toEqual(['/usr/bin/node dist/main.js']);
    expect(values('User')[0]).not.toMatch(/^(root|0)$/);
    expect(values('NoNewPrivileges')).toEqual(['yes']);
    expect(values('ProtectSystem')).toEqual(['strict']);
    expect(values('EnvironmentFile')).toHaveLength(1);
    const env: Record<string, string> = Object.fromEntries(
      values('Environment').map((pair) => pair.split('=') as [string, string]),
    );
    expect(unknownVariables(env)).toEqual([]);
    expect(unknownVariables(envFileExample)).toEqual([]);
    expect(loadConfig({ ...env, ...envFileExample }).epmwareUrl).not.toBeNull();
  });

  it('gives the shutdown more time than it takes, and does not restart on a configuration error', () => {
    const env: Record<string, string> = Object.fromEntries(
      values('Environment').map((pair) => pair.split('=') as [string, string]),
    );
    const config = loadConfig({ ...env, ...envFileExample });
    // Stated in the example, not left to the defaults: the operator sees both.
    expect(envFileExample).toMatchObject({ SHUTDOWN_DRAIN_MS: String(CONTRACT_DRAIN_MS) });
    expect(config.metricsPort).not.toBeNull();
    expect(config.metricsPort).not.toBe(config.port);
    expect(Number(values('TimeoutStopSec')[0]) * 1_000).toBeGreaterThan(
      config.shutdownDrainMs + SHUTDOWN_GRACE_MS,
    );
    expect(values('KillSignal')).toEqual(['SIGTERM']);
    // main.ts exits 2 on a configuration error.
    expect(values('RestartPreventExitStatus')).toEqual(['2']);
  });
});

describe('every path a deployment file points at answers', () => {
  // With METRICS_PORT, as the deployment files set it (on a free port here).
  const stack = stackForFile({ env: { METRICS_PORT: '0' } });

  function origin(port: PortKind | '(neither)'): string {
    if (port === 'public') return stack.origin;
    const address = stack.gateway.metricsServer?.address();
    if (port === 'metrics' && address && typeof address === 'object')
      return `http://127.0.0.1:${address.port}`;
    throw new Error(`no server for the ${port} port`);
  }

  it('health checks, probes and scrapes get 200 from a running gateway, on the port they name', async () => {
    const paths = probedPaths();
    expect(new Set(paths.map(([path]) => path))).toEqual(new Set(['/healthz', '/readyz', '/metrics']));
    for (const [path, port, where] of paths) {
      const response = await request(`${origin(port)}${path}`);
      await response.body.dump();
      expect(response.statusCode, `${where}: GET ${path} on the ${port} port`).toBe(200);
    }
    // What the load balancer and the Service expose (the public port) serves no metrics.
    const publicMetrics = await request(`${stack.origin}/metrics`);
    await publicMetrics.body.dump();
    expect(publicMetrics.statusCode).toBe(404);
  });

  it('the simulator service’s health check path answers on the simulator', async () => {
    const test = readCompose().services.simulator?.healthcheck?.test.join(' ') ?? '';
    const path = /'(\/[\w/]+)'/.exec(test)?.[1] ?? '(none)';
    const response = await request(`${stack.sim.url}${path}`);
    await response.body.dump();
    expect(response.statusCode, path).toBe(200);
  });
});
