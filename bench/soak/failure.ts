/**
 * A request of the soak's clients that got no answer: a hang when it ran into its deadline, a failure the churn
 * excuses when its instance was stopped meanwhile (the instances soak kills and restarts them on purpose), and
 * otherwise something that is not an answer the contract describes.
 */
import type { Target, Workload } from './tenant.ts';

export function recordFailure(
  w: Workload,
  target: Target,
  label: string,
  startedAt: number,
  error: unknown,
  deadlineMs = w.hangMs,
): void {
  target.answered(null);
  if (target.interrupted()) {
    w.record.interrupted(label);
    return;
  }
  const ms = Math.round(performance.now() - startedAt);
  if (ms >= deadlineMs - 50) w.record.hang(label, ms);
  else
    w.record.notAnAnswer(label, error instanceof Error ? `${error.name}: ${error.message}` : String(error));
}
