// Deployment, ERP import and export runs, and the execution histories they append to.
import type { Failure } from './catalog.ts';
import type { RequestContext } from './http.ts';
import { badRequest, conflict, jsonObject, notFound, requireQuery, sendJson } from './http.ts';
import type { TaskKind } from './tasks.ts';
import { isFinished, timeoutStep } from './tasks.ts';
import type {
  UpstreamDeploymentExecutionDetails,
  UpstreamExportExecutionDetails,
  UpstreamTaskSubmitted,
} from './types.ts';

const DEFAULT_TIMEOUT_MIN = 60;

interface RunRequest {
  name: string;
  timeoutMin: number;
}

function parseRunRequest(ctx: RequestContext): RunRequest {
  const body = jsonObject(ctx);
  const name = body.name;
  if (typeof name !== 'string' || name.trim() === '') {
    throw badRequest("Field 'name' is required and must be a non-empty string");
  }
  const timeout = body.timeout_min;
  if (timeout !== undefined && !(typeof timeout === 'number' && Number.isInteger(timeout) && timeout > 0)) {
    throw badRequest("Field 'timeout_min' must be a positive integer");
  }
  return { name, timeoutMin: timeout ?? DEFAULT_TIMEOUT_MIN };
}

/** 409 while the previous run of this configuration is unfinished. */
export function assertNotRunning(ctx: RequestContext, kind: TaskKind, name: string, what: string): void {
  const taskId = ctx.tenant.activeRun(kind, name);
  const task = taskId === undefined ? undefined : ctx.tenant.tasks.get(taskId);
  if (task && !isFinished(task, ctx.sim.now())) throw conflict(`${what} '${name}' is already in progress`);
}

/** The configuration's own failure or a timeout, whichever happens first. */
function runFailure(
  what: string,
  name: string,
  configFailure: Failure | null,
  timeoutMin: number,
  typicalMinutes: number,
): Failure | null {
  const step = timeoutStep(timeoutMin, typicalMinutes);
  const timeout =
    step === null
      ? null
      : {
          step,
          message: `${what} '${name}' did not complete within ${timeoutMin} minutes (timeout_min) and was terminated`,
        };
  if (configFailure && (!timeout || configFailure.step <= timeout.step)) return configFailure;
  return timeout;
}

export function runDeployment(ctx: RequestContext): void {
  const { name, timeoutMin } = parseRunRequest(ctx);
  const config = ctx.tenant.deployments.get(name.toLowerCase());
  if (!config) throw notFound(`Deployment configuration '${name}' not found`);
  assertNotRunning(ctx, 'deployment', config.name, 'Deployment');
  const task = ctx.sim.submitTask(ctx.tenant, {
    kind: 'deployment',
    subject: config.name,
    description: `Deployment '${config.name}' (timeout_min ${timeoutMin})`,
    failure: runFailure('Deployment', config.name, config.failure, timeoutMin, config.typicalMinutes),
  });
  config.history.unshift({ kind: 'task', id: ctx.tenant.newExecutionId(), taskId: task.taskId });
  ctx.tenant.markRunning(task);
  const answer: UpstreamTaskSubmitted = { status: 'S', taskId: task.taskId };
  sendJson(ctx, 200, answer);
}

export function runErpImport(ctx: RequestContext): void {
  const { name, timeoutMin } = parseRunRequest(ctx);
  const config = ctx.tenant.erpConfigs.get(name.toLowerCase());
  if (!config) throw notFound(`ERP Import configuration '${name}' not found`);
  assertNotRunning(ctx, 'erp', config.name, 'ERP Import');
  const task = ctx.sim.submitTask(ctx.tenant, {
    kind: 'erp',
    subject: config.name,
    description: `ERP Import '${config.name}' (timeout_min ${timeoutMin})`,
    failure: runFailure('ERP Import', config.name, config.failure, timeoutMin, config.typicalMinutes),
  });
  ctx.tenant.markRunning(task);
  const answer: UpstreamTaskSubmitted = { status: 'S', taskId: task.taskId };
  sendJson(ctx, 200, answer);
}

export function runExport(ctx: RequestContext): void {
  const body = jsonObject(ctx);
  const hasName = body.name !== undefined;
  const hasBook = body.book_name !== undefined;
  if (hasName === hasBook) {
    throw badRequest(
      hasName ? "Specify either 'name' or 'book_name', not both" : "Either 'name' or 'book_name' is required",
    );
  }
  const field = hasName ? 'name' : 'book_name';
  const name = body[field];
  if (typeof name !== 'string' || name.trim() === '') {
    throw badRequest(`Field '${field}' must be a non-empty string`);
  }
  const kind = hasName ? 'profile' : 'book';
  const config = ctx.tenant.exports.get(name.toLowerCase());
  if (!config || config.kind !== kind) throw notFound(`Export ${kind} '${name}' not found`);
  assertNotRunning(ctx, 'export', config.name, 'Export');
  const task = ctx.sim.submitTask(ctx.tenant, {
    kind: 'export',
    subject: config.name,
    description: `Export ${kind} '${config.name}'`,
    failure: null,
    file: { fileName: `${config.name}_export.csv`, bytes: ctx.sim.config.exportFileBytes, expired: false },
  });
  config.history.unshift({ kind: 'task', id: ctx.tenant.newExecutionId(), taskId: task.taskId });
  ctx.tenant.markRunning(task);
  const answer: UpstreamTaskSubmitted = {
    status: 'S',
    taskId: task.taskId,
    message: 'Task submitted successfully',
  };
  sendJson(ctx, 200, answer);
}

function latestOnly(ctx: RequestContext): boolean {
  const value = (ctx.query.get('latest_only') ?? 'Y').toUpperCase();
  if (value !== 'Y' && value !== 'N') throw badRequest("Query parameter 'latest_only' must be Y or N");
  return value === 'Y';
}

export function deploymentExecutionDetails(ctx: RequestContext): void {
  const name = requireQuery(ctx, 'name');
  const latest = latestOnly(ctx);
  const config = ctx.tenant.deployments.get(name.toLowerCase());
  if (!config) throw notFound(`Deployment '${name}' not found`);
  const rows = ctx.tenant.deploymentHistory(config, ctx.sim.now());
  const answer: UpstreamDeploymentExecutionDetails = {
    vEWVDeploymentExecutions: latest ? rows.slice(0, 1) : rows,
  };
  sendJson(ctx, 200, answer);
}

export function exportExecutionDetails(ctx: RequestContext): void {
  const name = requireQuery(ctx, 'name');
  const latest = latestOnly(ctx);
  const config = ctx.tenant.exports.get(name.toLowerCase());
  if (!config) throw notFound(`Export '${name}' not found`);
  const rows = ctx.tenant.exportHistory(config, ctx.sim.now());
  const answer: UpstreamExportExecutionDetails = { vEWVExportExecutions: latest ? rows.slice(0, 1) : rows };
  sendJson(ctx, 200, answer);
}
