/**
 * EPMware's task status as the graph shows it, shared by the Task type (schema/task.ts) and the task pollers
 * (task-subscribers.ts), so a poller never imports the schema.
 */
import type { EpmTaskStatus } from '../upstream/types.ts';

export type TaskStateValue = 'RUNNING' | 'SUCCEEDED' | 'FAILED';

/** S -> SUCCEEDED, E -> FAILED, anything else (P, R, whatever EPMware adds) -> RUNNING. */
export function taskState(status: string): TaskStateValue {
  const code = status.trim().toUpperCase();
  if (code === 'S') return 'SUCCEEDED';
  if (code === 'E') return 'FAILED';
  return 'RUNNING';
}

/** EPMware sends percentCompleted as a string ("40"); clients get an Int clamped to 0..100. */
export function percentCompleted(raw: EpmTaskStatus['percentCompleted']): number {
  const value = typeof raw === 'number' ? raw : Number.parseInt(String(raw ?? '0'), 10);
  if (!Number.isFinite(value)) return 0;
  return Math.min(100, Math.max(0, Math.round(value)));
}
