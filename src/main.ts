/**
 * The process: read the configuration, start the embedded simulator when asked (or, from the TypeScript source,
 * when no EPMWARE_URL is set), probe EPMware once, listen, say where GraphiQL is, and on SIGTERM/SIGINT shut down
 * without dropping work: stop accepting, complete subscriptions, let in-flight requests finish, close the upstream
 * pool, exit 0 — or, past the deadline, cut what is left and exit 1.
 */
import { type Config, ConfigError, loadConfig, SIMULATOR_URL_VALUE } from './config.ts';
import type { Logger } from './observability/logger.ts';
import { probeUpstream } from './startup-probe.ts';

/** Orchestrators wait about 30 s between SIGTERM and SIGKILL; 10 s leaves room and bounds a stuck request. */
const SHUTDOWN_GRACE_MS = 10_000;

/** The start-up probe waits at most this long: a blackholed address must not hold the banner back for long. */
const PROBE_TIMEOUT_MS = 3_000;

/**
 * `npm start` runs this file as TypeScript (a development entry: the simulator by default, so a fresh clone works);
 * `npm run start:prod` and any `node dist/main.js` run the compiled JavaScript, the production entry, where serving
 * a simulator's fake data because a variable was forgotten would be a silent disaster.
 */
const PRODUCTION_ENTRY = !import.meta.url.endsWith('.ts');

/** Every start-up refusal: one line naming what to set, exit 2, nothing listening. */
function refuse(message: string): never {
  process.stderr.write(`Configuration error: ${message}\n`);
  process.exit(2);
}

function configuration(): Config {
  try {
    const config = loadConfig(process.env);
    if (PRODUCTION_ENTRY && !config.epmwareUrl && !config.simulatorRequested) {
      refuse(
        'EPMWARE_URL is not set: set it to your EPMware instance (e.g. EPMWARE_URL=https://acme.epmwarecloud.com), ' +
          `or EPMWARE_URL=${SIMULATOR_URL_VALUE} to serve the embedded simulator's demo data`,
      );
    }
    return config;
  } catch (error) {
    if (error instanceof ConfigError) refuse(error.message);
    throw error;
  }
}

/** A listen failure is a configuration problem (PORT/HOST), reported like one instead of as a stack trace. */
function listenProblem(error: unknown, config: Config): string | undefined {
  const code = (error as { code?: unknown }).code;
  const where = `${config.host}:${config.port}`;
  if (code === 'EADDRINUSE') {
    return `PORT: ${where} is already in use (another gateway still running?): stop that process or set PORT to a free port`;
  }
  if (code === 'EACCES')
    return `PORT: not allowed to listen on ${where}: use a port above 1023 or grant the capability`;
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return `HOST: ${config.host} is not an address of this machine: use 127.0.0.1, 0.0.0.0 or one of its addresses`;
  }
  return undefined;
}

/**
 * An error nothing handled: one JSON line saying so, then the process stops (exit 1), as Node would stop it.
 * Logging only, never the fix: every stream and callback handles its own errors, and a process that carried on
 * after one would run in an unknown state and hide the defect (the crash tests would pass without their fixes).
 * These listeners exist so the report is one structured line with the token-shaped parts of the message removed,
 * instead of Node's raw dump of the error on stderr.
 */
function stopOnUncaughtErrors(logger: Logger): void {
  const stop = (origin: string, error: unknown) => {
    const described =
      error instanceof Error
        ? { type: error.name, code: (error as { code?: unknown }).code, stack: error.stack ?? error.message }
        : { type: typeof error, stack: String(error) };
    logger.fatal(
      { origin, error: { ...described, stack: withoutTokens(described.stack) } },
      'uncaught error: the process stops',
    );
    process.exit(1);
  };
  process.on('uncaughtException', (error) => stop('uncaughtException', error));
  process.on('unhandledRejection', (reason) => stop('unhandledRejection', reason));
}

function withoutTokens(text: string): string {
  return text.replace(/\b(token|bearer)(\s+|\s*[:=]\s*)\S+/gi, '$1$2[redacted]');
}

async function main(): Promise<void> {
  // A closed stdout (the reader of a pipe went away) must not stop the gateway: the banner is then lost, nothing else.
  process.stdout.on('error', () => {});
  let config = configuration();

  // Tracing starts before the gateway is built (its plugin is part of it); without an OTLP endpoint no
  // OpenTelemetry code is loaded at all.
  const tracing = config.otlpEndpoint ? await import('./observability/tracing.ts') : undefined;
  await tracing?.startTracing();

  // Loaded only once the configuration is known to be good: a bad value is reported in a fraction of a second,
  // before the schema is built.
  const { createGateway } = await import('./gateway.ts');
  let demoToken: string | undefined;
  let stopSimulator: (() => Promise<void>) | undefined;
  if (!config.epmwareUrl) {
    const { startSimulator } = await import('./simulator/index.ts');
    const simulator = await startSimulator({ rateLimits: 'documented' });
    config = { ...config, epmwareUrl: new URL(simulator.url) };
    demoToken = simulator.tokens.primary;
    stopSimulator = () => simulator.close();
  }

  const gateway = createGateway(config, { demoToken });
  const { logger } = gateway.services;
  stopOnUncaughtErrors(logger);
  const upstreamUrl = config.epmwareUrl;
  // Probed while the server starts listening; reported under the banner, before anyone can send a query.
  const probe = demoToken || !upstreamUrl ? undefined : probeUpstream(upstreamUrl, PROBE_TIMEOUT_MS);
  let url: URL;
  try {
    url = await gateway.listen();
  } catch (error) {
    const problem = listenProblem(error, config);
    if (problem) refuse(problem);
    throw error;
  }
  const probed = await probe;
  // The banner is for the person who started the process (the contract asks for the demo token there); the JSON
  // log line is for machines and carries no token.
  process.stdout.write(`EPMware GraphQL gateway ready: GraphiQL at ${url.href}\n`);
  if (demoToken) {
    process.stdout.write(`Upstream: embedded EPMware simulator at ${config.epmwareUrl?.origin}\n`);
    process.stdout.write(`Demo token: ${demoToken}  (send "Authorization: Token ${demoToken}")\n`);
  } else {
    // Printed before the Upstream line, which ends the banner: whoever waits for it has seen the warning.
    if (probed?.verdict === 'unreachable') {
      process.stdout.write(
        `Warning: EPMware at ${upstreamUrl?.href.replace(/\/$/, '')} cannot be reached (${probed.cause}); starting anyway, ` +
          'queries fail with UPSTREAM_UNAVAILABLE and /readyz answers 503 until it can\n',
      );
    } else if (probed?.verdict === 'not EPMware') {
      process.stdout.write(
        `Warning: EPMWARE_URL answers, but not as EPMware does (${probed.cause}): set it to the instance's base ` +
          'URL (e.g. https://acme.epmwarecloud.com); starting anyway, /readyz answers 503 until it answers as EPMware\n',
      );
    }
    process.stdout.write(`Upstream: ${upstreamUrl?.href.replace(/\/$/, '')}\n`);
  }
  const metricsAddress = gateway.metricsServer?.address();
  const metricsUrl =
    metricsAddress && typeof metricsAddress === 'object'
      ? `http://${config.host}:${metricsAddress.port}/metrics`
      : undefined;
  if (metricsUrl) process.stdout.write(`Metrics: ${metricsUrl} (METRICS_PORT)\n`);
  logger.info(
    {
      url: url.href,
      metrics: metricsUrl,
      upstream: config.epmwareUrl?.origin,
      simulator: Boolean(demoToken),
      upstreamReachable: probed ? probed.verdict === 'epmware' : undefined,
      upstreamProblem:
        probed && probed.verdict !== 'epmware' ? `${probed.verdict}: ${probed.cause}` : undefined,
    },
    'gateway listening',
  );

  // Off the start-up path, once the process is serving: GraphiQL's first visit then costs no import or compression.
  // Only for the demo (the embedded simulator), whose first visitor is a newcomer opening GraphiQL: it costs about a
  // second of CPU and some 90 MB of RSS, which a gateway serving applications should not spend (nor have land in the
  // middle of its first traffic) for a page it may never serve; there the first page view starts the import.
  // unref: a process stopped at once never waits for it.
  if (demoToken && config.introspection) {
    const { warmGraphiQLAssets } = await import('./routes/graphiql.ts');
    // Five seconds: a person is still reading the banner; a short-lived process (a script, a test) is gone by then.
    setTimeout(() => void warmGraphiQLAssets().catch(() => undefined), 5_000).unref();
  }

  // SIGTERM (an orchestrator, a load balancer's deploy): drain first. /readyz answers 503 at once while everything
  // is still served for SHUTDOWN_DRAIN_MS, so the load balancer's checks take this instance out before its listener
  // closes; then close. SIGINT (Ctrl-C at a terminal), or a second signal during the drain, closes at once.
  let stopping: 'draining' | 'closing' | undefined;
  let endDrain: () => void = () => {};
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping === 'draining') return endDrain();
    if (stopping) return;
    const drainMs = signal === 'SIGTERM' ? config.shutdownDrainMs : 0;
    const graceMs = drainMs + SHUTDOWN_GRACE_MS;
    const deadline = setTimeout(() => {
      logger.warn({ graceMs }, 'shutdown deadline passed: closing remaining connections');
      gateway.server.closeAllConnections();
      process.exit(1);
    }, graceMs);
    if (drainMs > 0) {
      stopping = 'draining';
      gateway.drain();
      logger.info(
        { signal, drainMs },
        'draining: /readyz answers 503, everything else is served until the drain ends',
      );
      await new Promise<void>((resolve) => {
        endDrain = resolve;
        setTimeout(resolve, drainMs);
      });
    }
    stopping = 'closing';
    logger.info({ signal, graceMs: SHUTDOWN_GRACE_MS }, 'shutting down: finishing in-flight work');
    try {
      await gateway.close();
      await tracing?.stopTracing();
      await stopSimulator?.();
      clearTimeout(deadline);
      logger.info('gateway stopped');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', (signal) => void shutdown(signal));
  process.on('SIGINT', (signal) => void shutdown(signal));
}

await main();
