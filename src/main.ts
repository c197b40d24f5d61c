/**
 * The process: read the configuration, start the embedded simulator when no EPMWARE_URL is set, listen, say where
 * GraphiQL is, and on SIGTERM/SIGINT shut down without dropping work: stop accepting, complete subscriptions, let
 * in-flight requests finish, close the upstream pool, exit 0 — or, past the deadline, cut what is left and exit 1.
 */
import { ConfigError, loadConfig } from './config.ts';

/** Orchestrators wait about 30 s between SIGTERM and SIGKILL; 10 s leaves room and bounds a stuck request. */
const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }

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
  const url = await gateway.listen();
  // The banner is for the person who started the process (the contract asks for the demo token there); the JSON
  // log line is for machines and carries no token.
  process.stdout.write(`EPMware GraphQL gateway ready: GraphiQL at ${url.href}\n`);
  if (demoToken) {
    process.stdout.write(`Upstream: embedded EPMware simulator at ${config.epmwareUrl?.origin}\n`);
    process.stdout.write(`Demo token: ${demoToken}  (send "Authorization: Token ${demoToken}")\n`);
  } else {
    process.stdout.write(`Upstream: ${config.epmwareUrl?.origin}\n`);
  }
  logger.info(
    { url: url.href, upstream: config.epmwareUrl?.origin, simulator: Boolean(demoToken) },
    'gateway listening',
  );

  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: SHUTDOWN_GRACE_MS }, 'shutting down: finishing in-flight work');
    const deadline = setTimeout(() => {
      logger.warn({ graceMs: SHUTDOWN_GRACE_MS }, 'shutdown deadline passed: closing remaining connections');
      gateway.server.closeAllConnections();
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
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
