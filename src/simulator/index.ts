// The embedded EPMware REST API simulator: startSimulator() and the types other code programs against.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Fault, Simulator, SimulatorOptions } from './contract.ts';
import { createRequestListener } from './server.ts';
import { Simulation } from './simulation.ts';

export type {
  ConfigPatch,
  Fault,
  RateLimits,
  RecordedMultipartBody,
  RecordedRequest,
  RequestFilter,
  ServiceName,
  Simulator,
  SimulatorFixtures,
  SimulatorOptions,
  TenantView,
} from './contract.ts';
export { PRIMARY_TOKEN, SECONDARY_TOKEN } from './simulation.ts';
export type * from './types.ts';

const MAX_HEADER_BYTES = 1024 * 1024;

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = new Simulation(options);
  // Node's own 16 KB header limit would answer 431 before the simulator saw the request: every request reaches the
  // log (so a test can count what an oversized request cost), and a front door's limit is a fault (minHeaderBytes).
  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, createRequestListener(sim));
  server.on('connection', (socket) => sim.lifecycle.track(socket));
  // A client that resets mid-request must not surface as an unhandled error.
  server.on('clientError', (_error, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    tokens: { primary: sim.primary.token, secondary: sim.secondary.token },
    fixtures: sim.fixtures,
    requests: (filter) => sim.log.list(filter),
    clearRequests: () => sim.log.clear(),
    injectFault: (fault: Fault) => sim.faults.add(fault),
    clearFaults: () => sim.faults.clear(),
    configure: (patch) => sim.configure(patch),
    setServiceDown: (service, down) => sim.setServiceDown(service, down),
    expireExportFile: (taskId) => sim.expireExportFile(taskId),
    finishTask: (taskId) => sim.finishTask(taskId),
    state: (token = sim.primary.token) => {
      const tenant = sim.tenants.get(token);
      if (!tenant) throw new Error(`No tenant has the token '${token}'`);
      return tenant.view(() => sim.now());
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        sim.lifecycle.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
