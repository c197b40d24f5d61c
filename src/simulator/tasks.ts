// The async task engine. A task's state is a pure function of (task, now): nothing ticks in the background,
// so there are no timers to leak, and percent can never go backwards however often a client polls.
//
// Timeline over durationMs: the first 10% is P ("0"); then step k (0..8) runs from 10(k+1)% to 10(k+2)% of
// the duration and reports R with percentCompleted "10(k+1)"; at 100% the task is S ("100") or E. A failing
// task stops advancing once it reaches its failure step and ends E at that percent.
import { upstreamDate } from './catalog.ts';
import type {
  TaskStatusCode,
  UpstreamDeploymentExecution,
  UpstreamExportExecution,
  UpstreamTaskStatus,
} from './types.ts';

export type TaskKind = 'deployment' | 'erp' | 'export' | 'upload';

export const STEP_COUNT = 9;

const STEPS: Record<TaskKind, readonly string[]> = {
  deployment: [
    'Validating deployment configuration',
    'Extracting metadata changes',
    'Generating deployment files',
    'Connecting to target application',
    'Loading dimension members',
    'Loading member properties',
    'Refreshing target application',
    'Verifying deployment',
    'Finalizing deployment',
  ],
  erp: [
    'Validating import configuration',
    'Reading staged source file',
    'Parsing records',
    'Validating members',
    'Mapping to target dimensions',
    'Creating metadata requests',
    'Applying changes',
    'Writing import report',
    'Finalizing import',
  ],
  export: [
    'Validating export definition',
    'Querying hierarchies',
    'Extracting members',
    'Extracting properties',
    'Applying filters',
    'Formatting output',
    'Writing export file',
    'Registering output file',
    'Finalizing export',
  ],
  upload: [
    'Receiving file',
    'Checking file encoding',
    'Validating delimiter',
    'Counting records',
    'Scanning for invalid characters',
    'Staging file',
    'Registering file',
    'Updating import queue',
    'Finalizing upload',
  ],
};

export interface ExportFile {
  fileName: string;
  bytes: number;
  /** Set by expireExportFile; otherwise a file expires exportFileTtlMs after the task ends. */
  expired: boolean;
}

/** What a new task is: its kind and subject, how it fails (if it does), and when it was submitted. */
export interface TaskInit {
  kind: TaskKind;
  subject: string;
  description: string;
  failure: { step: number; message: string } | null;
  durationMs?: number;
  submittedAt?: number;
  file?: ExportFile | null;
}

export interface Task {
  taskId: string;
  kind: TaskKind;
  /** The configuration name as the tenant spells it. */
  subject: string;
  /** e.g. "Deployment 'ASOALL' (timeout 60 min)", for the log. */
  description: string;
  submittedAt: number;
  durationMs: number;
  failure: { step: number; message: string } | null;
  file: ExportFile | null;
}

export interface TaskProgress {
  status: TaskStatusCode;
  percent: number;
  message: string;
  /** Steps started so far (0..9). */
  stepsStarted: number;
  endedAt: number | null;
}

export function newTask(init: Omit<Task, 'file'> & { file?: ExportFile | null }): Task {
  const failure = init.failure
    ? { step: Math.max(0, Math.min(STEP_COUNT - 1, init.failure.step)), message: init.failure.message }
    : null;
  return { ...init, failure, file: init.file ?? null };
}

export function progressOf(task: Task, now: number): TaskProgress {
  const endedAt = task.submittedAt + task.durationMs;
  const lastStep = task.failure ? task.failure.step : STEP_COUNT - 1;
  if (now >= endedAt) {
    if (task.failure) {
      const percent = 10 * (task.failure.step + 1);
      return { status: 'E', percent, message: task.failure.message, stepsStarted: lastStep + 1, endedAt };
    }
    return {
      status: 'S',
      percent: 100,
      message: 'Task completed successfully',
      stepsStarted: STEP_COUNT,
      endedAt,
    };
  }
  const tenths = Math.floor(((now - task.submittedAt) / Math.max(1, task.durationMs)) * 10);
  if (tenths < 1) {
    return {
      status: 'P',
      percent: 0,
      message: 'Task submitted, waiting for an available worker',
      stepsStarted: 0,
      endedAt: null,
    };
  }
  const step = Math.min(tenths - 1, lastStep);
  const message = STEPS[task.kind][step] ?? 'Processing';
  return { status: 'R', percent: 10 * (step + 1), message, stepsStarted: step + 1, endedAt: null };
}

export function isFinished(task: Task, now: number): boolean {
  return now >= task.submittedAt + task.durationMs;
}

export function taskStatusJson(task: Task, now: number): UpstreamTaskStatus {
  const p = progressOf(task, now);
  return { taskId: task.taskId, status: p.status, percentCompleted: String(p.percent), message: p.message };
}

/** The log as it stands at `now`: one timestamped line per started step, a final line once terminal. */
export function taskLog(task: Task, now: number): string {
  const p = progressOf(task, now);
  const stamp = (ms: number): string => new Date(ms).toISOString();
  const lines = [`${stamp(task.submittedAt)} INFO  Task ${task.taskId} submitted: ${task.description}`];
  for (let step = 0; step < p.stepsStarted; step++) {
    const at = task.submittedAt + task.durationMs * 0.1 * (step + 1);
    lines.push(`${stamp(at)} INFO  [${10 * (step + 1)}%] ${STEPS[task.kind][step] ?? 'Processing'}`);
  }
  if (p.endedAt !== null) {
    lines.push(
      p.status === 'S'
        ? `${stamp(p.endedAt)} INFO  [100%] Task completed successfully`
        : `${stamp(p.endedAt)} ERROR ${p.message}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function statusMeaning(p: TaskProgress): string {
  return p.status === 'S' ? 'Success' : p.status === 'E' ? 'Error' : 'Running';
}

export function deploymentExecutionOf(id: string, task: Task, now: number): UpstreamDeploymentExecution {
  const p = progressOf(task, now);
  return {
    id,
    deploymentName: task.subject,
    startDate: upstreamDate(task.submittedAt),
    endDate: p.endedAt === null ? null : upstreamDate(p.endedAt),
    statusMeaning: statusMeaning(p),
  };
}

export function exportExecutionOf(id: string, task: Task, now: number): UpstreamExportExecution {
  const p = progressOf(task, now);
  const file = p.status === 'S' ? task.file : null;
  return {
    id,
    exportName: task.subject,
    startDate: upstreamDate(task.submittedAt),
    endDate: p.endedAt === null ? null : upstreamDate(p.endedAt),
    outputFileName: file ? file.fileName : null,
    outputFileSize: file ? file.bytes : null,
    statusMeaning: statusMeaning(p),
  };
}

/** The failure step for a run given `timeout_min`: the step at which the simulated clock passes the timeout. */
export function timeoutStep(timeoutMin: number, typicalMinutes: number): number | null {
  if (timeoutMin >= typicalMinutes) return null;
  return Math.floor((timeoutMin / typicalMinutes) * STEP_COUNT);
}
