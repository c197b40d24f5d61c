// `npm run simulator`: the simulator as a standalone process, configured from the environment.
import type { SimulatorOptions } from './contract.ts';
import { startSimulator } from './index.ts';

function intFromEnv(name: string, fallback?: number): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`${name} must be a non-negative integer, got '${raw}'`);
    process.exit(2);
  }
  return value;
}

function rateLimitsFromEnv(): SimulatorOptions['rateLimits'] {
  const raw = process.env.SIM_RATE_LIMITS;
  if (raw === undefined || raw === '') return 'documented';
  if (raw === 'documented' || raw === 'relaxed') return raw;
  console.error(`SIM_RATE_LIMITS must be 'documented' or 'relaxed', got '${raw}'`);
  process.exit(2);
}

const options: SimulatorOptions = {
  port: intFromEnv('SIM_PORT', 4100),
  host: process.env.SIM_HOST || '127.0.0.1',
  users: intFromEnv('SIM_USERS'),
  groups: intFromEnv('SIM_GROUPS'),
  latencyMs: intFromEnv('SIM_LATENCY_MS'),
  rateLimits: rateLimitsFromEnv(),
  taskDurationMs: intFromEnv('SIM_TASK_DURATION_MS'),
};

const simulator = await startSimulator(options);
const { fixtures } = simulator;
// Everything a person needs to point a gateway at it and to type a query against it: the base URL exactly as
// EPMWARE_URL takes it, the tokens, and the names the demo data holds (runs need a name that exists).
console.log(`EPMware simulator listening on ${simulator.url} (API under ${simulator.url}/service/api)`);
console.log(`  gateway:         EPMWARE_URL=${simulator.url} npm start`);
console.log(`  primary token:   ${simulator.tokens.primary}`);
console.log(`  secondary token: ${simulator.tokens.secondary}`);
console.log(
  `  deployments:     ${fixtures.deploymentNames.join(', ')} (${fixtures.failingDeploymentName} fails)`,
);
console.log(`  export profiles: ${fixtures.exportNames.join(', ')}`);
console.log(`  export books:    ${fixtures.exportBookNames.join(', ')}`);
console.log(
  `  ERP configs:     ${fixtures.erpConfigNames.join(', ')} (${fixtures.failingErpConfigName} fails)`,
);
console.log(`  finished export: task ${fixtures.exportTaskId} (its file downloads at once)`);
console.log(`  controls:        ${simulator.url}/__sim/ (info, requests, faults, config, services, exports)`);

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  console.log(`${signal} received, stopping the simulator`);
  simulator.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
