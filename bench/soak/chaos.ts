/**
 * The chaos: every few seconds the simulator's faults are replaced by another kind, at random. Each kind is what
 * a real EPMware (or what stands between it and us) does on a bad day.
 */
import type { Fault, ServiceName, Simulator } from '../../src/simulator/index.ts';

const SERVICES: ServiceName[] = ['deployment', 'export', 'security', 'task', 'erp'];
const READ_SERVICES: ServiceName[] = ['deployment', 'export', 'security', 'task'];
/** JSON reads only: a cut-off file download would be the fault's own 200, answered before EPMware checks the token. */
const TRUNCATED_READS = [
  '/service/api/security/*',
  '/service/api/deployment/get_execution_details',
  '/service/api/export/get_execution_details',
  '/service/api/task/*',
];
const ONE_RESOURCE = [
  '/service/api/security/groups',
  '/service/api/security/users',
  '/service/api/deployment/get_execution_details',
  '/service/api/task/get_status/*',
  '/service/api/export/download_file/*',
];

export type ChaosKind =
  | '503 burst on one service'
  | 'service down'
  | 'connection resets'
  | 'delays past the deadline'
  | '429 with Retry-After'
  | '500 on one resource'
  | 'truncated bodies'
  | 'quiet spell';

const KINDS: ChaosKind[] = [
  '503 burst on one service',
  'service down',
  'connection resets',
  'delays past the deadline',
  '429 with Retry-After',
  '500 on one resource',
  'truncated bodies',
  'quiet spell',
];

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}

function apply(sim: Simulator, kind: ChaosKind, deadlineMs: number): void {
  const inject = (fault: Fault) => sim.injectFault(fault);
  switch (kind) {
    case '503 burst on one service':
      inject({ path: `/service/api/${pick(SERVICES)}/*`, status: 503, times: 40 });
      break;
    case 'service down':
      sim.setServiceDown(pick(SERVICES), true);
      break;
    case 'connection resets':
      inject({ path: '/service/api/*', reset: true, times: 20 });
      break;
    case 'delays past the deadline':
      inject({ path: `/service/api/${pick(READ_SERVICES)}/*`, delayMs: deadlineMs + 1_000, times: 15 });
      break;
    case '429 with Retry-After':
      inject({ path: '/service/api/*', retryAfter: pick(['1', '2', '5']), times: 30 });
      break;
    case '500 on one resource':
      inject({ path: pick(ONE_RESOURCE), status: 500 });
      break;
    case 'truncated bodies':
      inject({ path: pick(TRUNCATED_READS), method: 'GET', truncate: true, times: 20 });
      break;
    case 'quiet spell':
      break;
  }
}

/** Clears every fault and brings every service back up. */
export function calm(sim: Simulator): void {
  sim.clearFaults();
  for (const service of SERVICES) sim.setServiceDown(service, false);
}

/** Changes the faults every 2-5 s until stopped; returns how often each kind ran. */
export function startChaos(sim: Simulator, deadlineMs: number) {
  const counts = new Map<ChaosKind, number>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const next = () => {
    if (stopped) return;
    calm(sim);
    const kind = pick(KINDS);
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    apply(sim, kind, deadlineMs);
    timer = setTimeout(next, 2_000 + Math.random() * 3_000);
  };
  next();
  return {
    counts,
    stop() {
      stopped = true;
      clearTimeout(timer);
      calm(sim);
    },
  };
}
