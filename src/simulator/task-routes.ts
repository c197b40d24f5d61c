// The task module: status and log of any task of the caller's tenant.
import type { RequestContext } from './http.ts';
import { notFound, sendJson, sendText } from './http.ts';
import { taskLog, taskStatusJson } from './tasks.ts';

export function getTaskStatus(ctx: RequestContext): void {
  const taskId = ctx.params.taskId ?? '';
  const task = ctx.tenant.tasks.get(taskId);
  if (!task) throw notFound(`Task '${taskId}' not found`);
  sendJson(ctx, 200, taskStatusJson(task, ctx.sim.now()));
}

export function getTaskLogFile(ctx: RequestContext): void {
  const taskId = ctx.params.taskId ?? '';
  const task = ctx.tenant.tasks.get(taskId);
  if (!task) throw notFound(`Log file for task '${taskId}' not found`);
  sendText(ctx, 200, taskLog(task, ctx.sim.now()));
}
