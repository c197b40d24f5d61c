/**
 * The checks both soaks make of what the clients saw (record.ts) and of the hostile client's refusals
 * (hostile.ts), and how a soak prints its checks: one line each, then `N passed, M failed` alone on a line.
 */
import type { HostileRecord } from './hostile.ts';
import type { SoakRecord } from './record.ts';

export interface Check {
  name: string;
  passed: boolean;
  detail: string;
}

export function samplesOf(list: string[]): string {
  return list.length ? ` (e.g. ${list.join(' | ')})` : '';
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** What every client request must come to: an answer in time, data or a contract code, nobody else's data. */
export function clientChecks(record: SoakRecord, hangMs: number, subscriptionMs: number): Check[] {
  return [
    {
      name: 'no request hangs past its deadline',
      passed: record.hangs === 0,
      detail: `${record.hangs} hung (deadline ${hangMs} ms, subscriptions ${subscriptionMs} ms)${samplesOf(record.hangSamples)}`,
    },
    {
      name: 'every answer is data or carries a contract code',
      passed: record.uncoded === 0,
      detail: `${record.uncoded} of ${record.answers} were not${samplesOf(record.uncodedSamples)}`,
    },
    {
      name: 'no INTERNAL_SERVER_ERROR',
      passed: record.internal === 0,
      detail: `${record.internal}${samplesOf(record.internalSamples)}`,
    },
    {
      name: "no data of one token in another's answer",
      passed: record.crossTenant === 0,
      detail: `${record.crossTenant}${samplesOf(record.crossTenantSamples)}`,
    },
    {
      name: 'every write that answered reached the simulator exactly once (a failed one at most once)',
      passed: record.writeViolations === 0 && record.pendingWrites.length === 0 && record.writesChecked > 0,
      detail: `${record.writesChecked} writes checked, ${record.writeViolations} wrong${samplesOf(record.writeViolationSamples)}`,
    },
  ];
}

/** The hostile client got its refusal every time (the gateway staying up is the output check's). */
export function hostileCheck(hostile: HostileRecord): Check {
  return {
    name: 'the hostile client (crash uploads, oversized uploads, 20 KB tokens, 60 KB ids) is refused every time',
    passed: hostile.total > 0 && hostile.unexpected === 0,
    detail:
      `${hostile.total} sent, ${hostile.unexpected} not refused as expected` +
      `${hostile.interrupted ? `, ${hostile.interrupted} cut by a stopped instance` : ''}: ${hostile.summary()}` +
      samplesOf(hostile.unexpectedSamples),
  };
}

/** Prints the checks; returns how many failed. */
export function printChecks(checks: Check[]): number {
  for (const check of checks) {
    process.stdout.write(`${check.passed ? 'PASS' : 'FAIL'} ${check.name}: ${check.detail}\n`);
  }
  return checks.filter((check) => !check.passed).length;
}
