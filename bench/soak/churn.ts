/**
 * The instances soak's churn: Redis stopped and restarted EMPTY, instances SIGKILLed and SIGTERMed and restarted,
 * on a fixed schedule (the same every run, so runs compare), one cycle per minute of soak. A and B take turns among
 * the instances but the last (cycle 0: A = 0, B = 1; cycle 1: A = 1, B = 0; ...); the last instance, C, is never
 * churned. Each cycle has, in order:
 *
 *   +3 s   SIGTERM A, restart it       a deploy's rolling restart, just before the outage: the new A has not run
 *                                      a minute when Redis goes
 *   +8 s   stop Redis                  (the outage begins)
 *   +11 s  SIGKILL B, restart it       started during the outage: it cannot know what its predecessor spent, and
 *                                      it is less than a minute old when Redis comes back (the case that used to
 *                                      earn EPMware's 429s)
 *   +18 s  start Redis again, empty    (the outage ends: 10 s)
 *   +30 s  SIGKILL A, restart it       a crash with Redis up
 *
 * C is the fleet's steady member: from the second minute on it has run longer than a budget window when Redis
 * goes, so a budget that holds back a new instance's share for a window still has C's to spend during the outage
 * (in a 1-minute run every instance is younger than that). Redis goes early in the cycle because a budget may also
 * hold back for a window what a Redis that came back empty forgot (the recovery check waits for that window, see
 * instances.ts): early, that window ends soon after the run does. Every event is printed when it begins and when it
 * is done.
 */

export type ChurnKind = 'Redis stopped' | 'Redis restarted empty' | 'SIGKILL, restart' | 'SIGTERM, restart';

export interface ChurnStep {
  /** ms after the start of the faulted run. */
  atMs: number;
  kind: ChurnKind;
  instance?: number;
}

export interface ChurnEvent extends ChurnStep {
  /** Date.now() when it began and when it was done (the instance back up, Redis answering). */
  at: number;
  doneAt: number | null;
  error?: string;
}

export interface ChurnActions {
  stopRedis(): Promise<void>;
  startRedis(): Promise<void>;
  /** Signals the instance, waits for it to exit, starts a new one; resolves when that one is up. */
  restart(instance: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
}

const CYCLE_MS = 60_000;

export function churnSchedule(minutes: number, instances: number): ChurnStep[] {
  const steps: ChurnStep[] = [];
  // A run shorter than a minute gets one cycle squeezed into it.
  const scale = Math.min(1, minutes);
  const cycles = Math.max(1, Math.floor(minutes));
  for (let cycle = 0; cycle < cycles; cycle++) {
    const at = (ms: number) => Math.round(cycle * CYCLE_MS + ms * scale);
    const churned = Math.max(1, instances - 1);
    const nth = (k: number) => (cycle + k) % churned;
    steps.push(
      { atMs: at(3_000), kind: 'SIGTERM, restart', instance: nth(0) },
      { atMs: at(8_000), kind: 'Redis stopped' },
      { atMs: at(11_000), kind: 'SIGKILL, restart', instance: nth(1) },
      { atMs: at(18_000), kind: 'Redis restarted empty' },
      { atMs: at(30_000), kind: 'SIGKILL, restart', instance: nth(0) },
    );
  }
  return steps;
}

export function describeEvent(event: ChurnStep): string {
  return event.instance === undefined ? event.kind : `${event.kind} instance ${event.instance}`;
}

/** Runs the schedule from `startedAt` (Date.now()); `done` resolves when every event is done. */
export function runChurn(steps: ChurnStep[], actions: ChurnActions, startedAt: number) {
  const events: ChurnEvent[] = [];
  const seconds = (at: number) => `+${((at - startedAt) / 1000).toFixed(1)} s`;
  const perform = (step: ChurnStep): Promise<void> => {
    switch (step.kind) {
      case 'Redis stopped':
        return actions.stopRedis();
      case 'Redis restarted empty':
        return actions.startRedis();
      case 'SIGKILL, restart':
        return actions.restart(step.instance ?? 0, 'SIGKILL');
      case 'SIGTERM, restart':
        return actions.restart(step.instance ?? 0, 'SIGTERM');
    }
  };
  const runs = steps.map(async (step) => {
    const wait = startedAt + step.atMs - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const event: ChurnEvent = { ...step, at: Date.now(), doneAt: null };
    events.push(event);
    process.stdout.write(`  ${seconds(event.at)} churn: ${describeEvent(step)}\n`);
    try {
      await perform(step);
      event.doneAt = Date.now();
      process.stdout.write(`  ${seconds(event.doneAt)} churn: done, ${describeEvent(step)}\n`);
    } catch (error) {
      event.error = error instanceof Error ? error.message : String(error);
      process.stdout.write(`  ${seconds(Date.now())} churn: FAILED ${describeEvent(step)}: ${event.error}\n`);
    }
  });
  return { events, done: Promise.all(runs).then(() => undefined) };
}

/** The Redis outages: from each stop to when Redis answered again (Infinity while it has not). */
export function outages(events: ChurnEvent[]): Array<{ from: number; to: number }> {
  const windows: Array<{ from: number; to: number }> = [];
  for (const stop of events.filter((event) => event.kind === 'Redis stopped')) {
    const back = events.find((event) => event.kind === 'Redis restarted empty' && event.at >= stop.at);
    windows.push({ from: stop.at, to: back?.doneAt ?? Number.POSITIVE_INFINITY });
  }
  return windows;
}
