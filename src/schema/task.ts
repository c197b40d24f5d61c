import { builder } from '../builder.ts';
import { mapBounded, requestLimiter } from '../concurrency.ts';
import type { Context } from '../context.ts';
import { accepts, deeper, type FieldCost, type NodeLoadCost } from '../cost/field-cost.ts';
import { GatewayError, InputError } from '../errors.ts';
import { percentCompleted, taskState } from '../tasks/task-state.ts';
import type { EpmTaskStatus } from '../upstream/types.ts';

export const TaskState = builder.enumType('TaskState', {
  values: ['RUNNING', 'SUCCEEDED', 'FAILED'] as const,
});

/** log(tailLines): zero or more, checked before the log is fetched. */
export function checkTailLines(tailLines: unknown): void {
  if (typeof tailLines === 'number' && tailLines < 0) throw new InputError('tailLines must be zero or more');
}

/** task(taskId): EPMware's id, trimmed; a blank one is refused before any call. */
export function taskIdArgument(taskId: unknown): string {
  const trimmed = String(taskId).trim();
  if (trimmed === '') throw new InputError('taskId must not be blank');
  return trimmed;
}

/** Loading tasks by id (node(id), nodes(ids)): one get_status per distinct id. */
const taskLoadCost: NodeLoadCost = ({ localIds, tally }) => tally.each(new Set(localIds).size);

/** task(taskId): its status, each time the field resolves (the Task loader does not cache). */
const taskCost: FieldCost = (field) => {
  const { args, place, tally } = field;
  if (!accepts(() => taskIdArgument(args.taskId))) return [];
  tally.each(1);
  return field.select(deeper(place, { objects: 1 }));
};

/** Task.log: one get_log_file per task, each time the field is selected. */
const logCost: FieldCost = ({ args, place, tally }) => {
  if (!accepts(() => checkTailLines(args.tailLines))) return [];
  tally.each(place.objects);
  return [];
};

/** Keeps the last `lines` lines of a log. */
export function tailLines(log: string, lines: number): string {
  if (lines <= 0) return '';
  const parts = log.replace(/\n$/, '').split('\n');
  return parts.slice(-lines).join('\n');
}

/**
 * A task's status as fetched from get_status. The loader rejects with NOT_FOUND when EPMware answers 404;
 * `task(taskId)` (loadTaskOrNull) and `node(id)` turn that into null.
 */
export const Task = builder.loadableNode(builder.objectRef<EpmTaskStatus>('Task'), {
  description: 'An EPMware task (a deployment, export or ERP import run), from task/get_status',
  id: { resolve: (task) => task.taskId },
  // Many tasks in one request fan out concurrently (DataLoader collects them in one tick), bounded by the
  // request's limiter; each failure stays with its own key. No DataLoader cache: a task's status changes while a
  // subscription or a mutation holds the same context, so every load asks again (a query naming one task twice
  // in one tick still costs one call: the batch is deduplicated).
  loaderOptions: { cache: false },
  upstreamLoad: taskLoadCost,
  load: async (taskIds: string[], ctx) => {
    const unique = [...new Set(taskIds)];
    const statuses = await mapBounded(
      unique,
      (taskId) => ctx.epmware().taskStatus(taskId),
      requestLimiter(ctx),
    );
    const byId = new Map(unique.map((taskId, i) => [taskId, statuses[i] as EpmTaskStatus | Error]));
    return taskIds.map((taskId) => byId.get(taskId) as EpmTaskStatus | Error);
  },
  fields: (t) => ({
    taskId: t.exposeID('taskId', { nullable: false, description: "EPMware's own task id" }),
    state: t.field({
      type: TaskState,
      nullable: false,
      upstream: 'none',
      resolve: (task) => taskState(task.status),
    }),
    status: t.exposeString('status', { nullable: false, description: 'The raw upstream status code' }),
    percentCompleted: t.int({
      nullable: false,
      upstream: 'none',
      resolve: (task) => percentCompleted(task.percentCompleted),
    }),
    message: t.string({ nullable: true, upstream: 'none', resolve: (task) => task.message ?? null }),
    done: t.boolean({
      nullable: false,
      upstream: 'none',
      resolve: (task) => taskState(task.status) !== 'RUNNING',
    }),
    log: t.string({
      nullable: true,
      description: 'The task log (get_log_file); tailLines keeps the last N lines',
      args: { tailLines: t.arg.int() },
      upstream: logCost,
      resolve: async (task, args, ctx) => {
        checkTailLines(args.tailLines);
        const log = await ctx.epmware().taskLog(task.taskId);
        return args.tailLines == null ? log : tailLines(log, args.tailLines);
      },
    }),
    downloadUrl: t.string({
      nullable: false,
      description: "This gateway's route for the task's export file",
      upstream: 'none',
      resolve: (task, _args, ctx) =>
        new URL(`/exports/${encodeURIComponent(task.taskId)}/file`, ctx.origin).href,
    }),
  }),
});

builder.queryField('task', (t) =>
  t.field({
    type: Task,
    nullable: true,
    description: 'A task by its EPMware id; null when EPMware does not know it',
    args: { taskId: t.arg.id({ required: true }) },
    upstream: taskCost,
    resolve: (_root, args, ctx) => loadTaskOrNull(ctx, taskIdArgument(args.taskId)),
  }),
);

/** The task, or null when EPMware answers 404 for it. */
export async function loadTaskOrNull(ctx: Context, taskId: string): Promise<EpmTaskStatus | null> {
  try {
    return await Task.getDataloader(ctx).load(taskId);
  } catch (error) {
    if (error instanceof GatewayError && error.code === 'NOT_FOUND') return null;
    throw error;
  }
}
