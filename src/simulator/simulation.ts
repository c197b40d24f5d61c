// All mutable simulator state in one place: configuration, tenants, the request log, faults, limits.
import { generateCatalog, PRIMARY_CATALOG, SECONDARY_CATALOG } from './catalog.ts';
import type {
  ConfigPatch,
  RateLimits,
  ServiceName,
  SimulatorFixtures,
  SimulatorOptions,
} from './contract.ts';
import { generateSecurityData } from './data.ts';
import { FaultStore } from './faults.ts';
import { createFixtures } from './fixtures.ts';
import { Lifecycle } from './lifecycle.ts';
import { PRIMARY_GROUPS, PRIMARY_NAMES, SECONDARY_GROUPS, SECONDARY_NAMES } from './names.ts';
import { RateLimiter, resolveLimits } from './rate-limit.ts';
import { RequestLog } from './request-log.ts';
import type { Task, TaskInit } from './tasks.ts';

export type { TaskInit } from './tasks.ts';

import { newTask } from './tasks.ts';
import { Tenant } from './tenant.ts';

/** The docs' own example token is the primary tenant's, so copied curl examples just work. */
export const PRIMARY_TOKEN = '15388ad5-c9af-4cf3-af47-8021c1ab3fb7';
export const SECONDARY_TOKEN = '7d4e2f9a-3b61-4c8e-9a05-e2c6b1f84d37';

const FIRST_TASK_ID = 244_600;
const SECONDARY_USERS = 25;

export interface SimulationConfig {
  latencyMs: number;
  rateLimits: RateLimits;
  taskDurationMs: number;
  maxUploadBytes: number;
  exportFileBytes: number;
  exportFileTtlMs: number;
}

export class Simulation {
  readonly config: SimulationConfig;
  readonly primary: Tenant;
  readonly secondary: Tenant;
  readonly tenants = new Map<string, Tenant>();
  readonly log = new RequestLog();
  readonly faults = new FaultStore();
  readonly rateLimiter: RateLimiter;
  readonly servicesDown = new Set<ServiceName>();
  readonly lifecycle = new Lifecycle();
  readonly fixtures: SimulatorFixtures;
  // One counter for all tenants: task ids are unique across tenants, as upstream ids are per instance.
  private nextTaskId = FIRST_TASK_ID;

  constructor(options: SimulatorOptions) {
    const seed = options.seed ?? 1;
    this.config = {
      latencyMs: nonNegative(options.latencyMs ?? 0, 'latencyMs'),
      rateLimits: resolveLimits(options.rateLimits),
      taskDurationMs: nonNegative(options.taskDurationMs ?? 20_000, 'taskDurationMs'),
      maxUploadBytes: nonNegative(options.maxUploadBytes ?? 100 * 1024 * 1024, 'maxUploadBytes'),
      exportFileBytes: nonNegative(options.exportFileBytes ?? 256 * 1024, 'exportFileBytes'),
      exportFileTtlMs: nonNegative(options.exportFileTtlMs ?? 3_600_000, 'exportFileTtlMs'),
    };
    this.rateLimiter = new RateLimiter(this.config.rateLimits);
    const primarySecurity = generateSecurityData({
      seed,
      users: nonNegative(options.users ?? 60, 'users'),
      groups: nonNegative(options.groups ?? 14, 'groups'),
      names: PRIMARY_NAMES,
      namedGroups: PRIMARY_GROUPS,
    });
    // A different seed and name pool: the second tenant must not look like a copy of the first.
    const secondarySeed = (seed * 31 + 7919) >>> 0;
    const secondarySecurity = generateSecurityData({
      seed: secondarySeed,
      users: SECONDARY_USERS,
      groups: SECONDARY_GROUPS.length,
      names: SECONDARY_NAMES,
      namedGroups: SECONDARY_GROUPS,
    });
    this.primary = new Tenant(
      'primary',
      PRIMARY_TOKEN,
      primarySecurity,
      generateCatalog(seed, PRIMARY_CATALOG),
    );
    this.secondary = new Tenant(
      'secondary',
      SECONDARY_TOKEN,
      secondarySecurity,
      generateCatalog(secondarySeed, SECONDARY_CATALOG),
    );
    this.tenants.set(PRIMARY_TOKEN, this.primary);
    this.tenants.set(SECONDARY_TOKEN, this.secondary);
    for (const token of options.extraTokens ?? []) this.tenants.set(token, this.primary);
    this.fixtures = createFixtures(this);
  }

  now(): number {
    return Date.now();
  }

  submitTask(tenant: Tenant, init: TaskInit): Task {
    const task = newTask({
      taskId: String(this.nextTaskId++),
      kind: init.kind,
      subject: init.subject,
      description: init.description,
      submittedAt: init.submittedAt ?? this.now(),
      durationMs: init.durationMs ?? this.config.taskDurationMs,
      failure: init.failure,
      file: init.file ?? null,
    });
    tenant.tasks.set(task.taskId, task);
    return task;
  }

  findTask(taskId: string): Task | undefined {
    for (const tenant of this.tenants.values()) {
      const task = tenant.tasks.get(taskId);
      if (task) return task;
    }
    return undefined;
  }

  setServiceDown(service: ServiceName, down: boolean): void {
    if (down) this.servicesDown.add(service);
    else this.servicesDown.delete(service);
  }

  expireExportFile(taskId: string): void {
    const task = this.findTask(taskId);
    if (!task?.file) throw new Error(`'${taskId}' is not an export task`);
    task.file.expired = true;
  }

  finishTask(taskId: string): void {
    const task = this.findTask(taskId);
    if (!task) throw new Error(`No task '${taskId}'`);
    // State is a function of (task, now): shortening the duration to what has elapsed ends it, nothing else moves.
    task.durationMs = Math.min(task.durationMs, Math.max(0, this.now() - task.submittedAt));
  }

  configure(patch: ConfigPatch): void {
    if (patch.latencyMs !== undefined) this.config.latencyMs = nonNegative(patch.latencyMs, 'latencyMs');
    if (patch.taskDurationMs !== undefined) {
      this.config.taskDurationMs = nonNegative(patch.taskDurationMs, 'taskDurationMs');
    }
    if (patch.rateLimits !== undefined) {
      this.config.rateLimits = resolveLimits(patch.rateLimits);
      this.rateLimiter.setLimits(this.config.rateLimits);
    }
  }
}

function nonNegative(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative number, got ${String(value)}`);
  }
  return value;
}
