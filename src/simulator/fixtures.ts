// Tasks that exist from the start, so a test can ask about a finished, failed, running or downloadable task
// without first waiting for one. All belong to the primary tenant.
import { PRIMARY_CATALOG } from './catalog.ts';
import type { SimulatorFixtures } from './contract.ts';
import type { Task, TaskInit } from './tasks.ts';
import type { Tenant } from './tenant.ts';

const MINUTE = 60_000;

/** What the fixtures need of the simulation (simulation.ts creates them). */
export interface FixtureHost {
  readonly primary: Tenant;
  readonly config: { taskDurationMs: number; exportFileBytes: number; exportFileTtlMs: number };
  now(): number;
  submitTask(tenant: Tenant, init: TaskInit): Task;
}

export function createFixtures(sim: FixtureHost): SimulatorFixtures {
  const tenant = sim.primary;
  const now = sim.now();
  const duration = sim.config.taskDurationMs;

  const deployment = (name: string, submittedAt: number): Task => {
    const config = tenant.deployments.get(name.toLowerCase());
    if (!config) throw new Error(`fixture deployment ${name} is not in the catalog`);
    const task = submit({
      kind: 'deployment',
      subject: config.name,
      description: `Deployment '${config.name}' (timeout_min 60)`,
      failure: config.failure,
      submittedAt,
    });
    config.history.unshift({ kind: 'task', id: tenant.newExecutionId(), taskId: task.taskId });
    return task;
  };
  const exportRun = (name: string, submittedAt: number, expired: boolean): Task => {
    const config = tenant.exports.get(name.toLowerCase());
    if (!config) throw new Error(`fixture export ${name} is not in the catalog`);
    const task = submit({
      kind: 'export',
      subject: config.name,
      description: `Export ${config.kind} '${config.name}'`,
      failure: null,
      submittedAt,
      file: { fileName: `${config.name}_export.csv`, bytes: sim.config.exportFileBytes, expired },
    });
    config.history.unshift({ kind: 'task', id: tenant.newExecutionId(), taskId: task.taskId });
    return task;
  };
  const submit = (init: TaskInit): Task => {
    const task = sim.submitTask(tenant, init);
    tenant.markRunning(task);
    return task;
  };

  const failing = PRIMARY_CATALOG.deployments.find((d) => d.failure);
  const failingErp = PRIMARY_CATALOG.erp.find((c) => c.failure);
  if (!failing || !failingErp)
    throw new Error('the primary catalog needs a failing deployment and ERP config');

  const succeeded = deployment('ASOALL', now - duration - 10 * MINUTE);
  const failed = deployment(failing.name, now - duration - 5 * MINUTE);
  // A third of the way in, so it is already running (R) rather than pending.
  const running = deployment('PROD_WEEKLY', now - duration * 0.35);
  const exported = exportRun('PBCS', now - duration - MINUTE, false);
  const expired = exportRun('HFM_EXPORT', now - duration - sim.config.exportFileTtlMs - MINUTE, true);

  return {
    succeededTaskId: succeeded.taskId,
    failedTaskId: failed.taskId,
    runningTaskId: running.taskId,
    exportTaskId: exported.taskId,
    expiredExportTaskId: expired.taskId,
    deploymentNames: PRIMARY_CATALOG.deployments.filter((d) => !d.neverRun).map((d) => d.name),
    neverRunDeploymentName: PRIMARY_CATALOG.deployments.find((d) => d.neverRun)?.name ?? '',
    failingDeploymentName: failing.name,
    exportNames: PRIMARY_CATALOG.exportProfiles.map((e) => e.name),
    exportBookNames: PRIMARY_CATALOG.exportBooks.map((e) => e.name),
    erpConfigNames: PRIMARY_CATALOG.erp.map((c) => c.name),
    failingErpConfigName: failingErp.name,
  };
}
