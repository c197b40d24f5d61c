// One tenant's mutable state. Every lookup is by lower-cased name, because upstream matches user and group
// names case-insensitively; what goes out keeps the spelling the data has (upper case for members).
import type { Catalog, DeploymentConfig, ErpConfig, ExportConfig, HistoryEntry } from './catalog.ts';
import type { TenantView } from './contract.ts';
import type { SecuritySeed, UserRecord } from './data.ts';
import type { Task, TaskKind } from './tasks.ts';
import { deploymentExecutionOf, exportExecutionOf, taskStatusJson } from './tasks.ts';
import type {
  UpstreamDeploymentExecution,
  UpstreamExportExecution,
  UpstreamGroup,
  UpstreamUser,
} from './types.ts';

const key = (name: string): string => name.toLowerCase();

export class Tenant {
  readonly users = new Map<string, UserRecord>();
  readonly groups = new Map<string, UpstreamGroup>();
  /** group key -> user keys, in assignment order. */
  private readonly groupMembers = new Map<string, Set<string>>();
  /** user key -> group keys, in assignment order. */
  private readonly userGroups = new Map<string, Set<string>>();
  readonly deployments = new Map<string, DeploymentConfig>();
  readonly exports = new Map<string, ExportConfig>();
  readonly erpConfigs = new Map<string, ErpConfig>();
  readonly tasks = new Map<string, Task>();
  /** "<kind>:<config key>" -> id of the latest run, for the 409 "already in progress" check. */
  readonly activeRuns = new Map<string, string>();
  private nextUserId: number;
  private nextExecutionId: number;

  constructor(
    readonly label: 'primary' | 'secondary',
    readonly token: string,
    security: SecuritySeed,
    catalog: Catalog,
  ) {
    for (const g of security.groups) {
      this.groups.set(key(g.name), g);
      this.groupMembers.set(key(g.name), new Set());
    }
    security.users.forEach((record, i) => {
      this.users.set(key(record.user.userName), record);
      this.userGroups.set(key(record.user.userName), new Set());
      this.assign(record.user.userName, security.memberships[i] ?? []);
    });
    for (const d of catalog.deployments) this.deployments.set(key(d.name), d);
    for (const e of catalog.exports) this.exports.set(key(e.name), e);
    for (const c of catalog.erp) this.erpConfigs.set(key(c.name), c);
    this.nextUserId = security.nextUserId;
    this.nextExecutionId = catalog.nextExecutionId;
  }

  findUser(name: string): UserRecord | undefined {
    return this.users.get(key(name));
  }

  findGroup(name: string): UpstreamGroup | undefined {
    return this.groups.get(key(name));
  }

  addUser(user: UpstreamUser): UserRecord {
    const record = { id: String(this.nextUserId++), user };
    this.users.set(key(user.userName), record);
    this.userGroups.set(key(user.userName), new Set());
    return record;
  }

  /** Callers check that the user and every group exist first: the change is all or nothing. */
  assign(userName: string, groupNames: readonly string[]): void {
    const u = key(userName);
    for (const g of groupNames.map(key)) {
      this.groupMembers.get(g)?.add(u);
      this.userGroups.get(u)?.add(g);
    }
  }

  unassign(userName: string, groupNames: readonly string[]): void {
    const u = key(userName);
    for (const g of groupNames.map(key)) {
      this.groupMembers.get(g)?.delete(u);
      this.userGroups.get(u)?.delete(g);
    }
  }

  /** Members of a group as upstream spells them: the user name in upper case. */
  membersOf(groupName: string): string[] {
    const members = this.groupMembers.get(key(groupName)) ?? new Set<string>();
    return [...members].map((u) => (this.users.get(u)?.user.userName ?? u).toUpperCase());
  }

  groupsOfUser(userName: string): string[] {
    const groups = this.userGroups.get(key(userName)) ?? new Set<string>();
    return [...groups].map((g) => this.groups.get(g)?.name ?? g);
  }

  /** The run of this configuration that is going on now (until it finishes), for EPMware's 409. */
  activeRun(kind: TaskKind, name: string): string | undefined {
    return this.activeRuns.get(runKey(kind, name));
  }

  markRunning(task: Task): void {
    this.activeRuns.set(runKey(task.kind, task.subject), task.taskId);
  }

  newExecutionId(): string {
    return String(this.nextExecutionId++);
  }

  deploymentHistory(config: DeploymentConfig, now: number): UpstreamDeploymentExecution[] {
    return this.render(config.history, (id, task) => deploymentExecutionOf(id, task, now));
  }

  exportHistory(config: ExportConfig, now: number): UpstreamExportExecution[] {
    return this.render(config.history, (id, task) => exportExecutionOf(id, task, now));
  }

  private render<Row extends object>(
    history: readonly HistoryEntry<Row>[],
    fromTask: (id: string, task: Task) => Row,
  ): Row[] {
    const rows: Row[] = [];
    for (const entry of history) {
      if (entry.kind === 'seeded') {
        rows.push({ ...entry.row });
        continue;
      }
      const task = this.tasks.get(entry.taskId);
      if (task) rows.push(fromTask(entry.id, task));
    }
    return rows;
  }

  view(clock: () => number): TenantView {
    return {
      users: () => [...this.users.values()].map((r) => ({ ...r.user })),
      groups: () => [...this.groups.values()].map((g) => ({ ...g })),
      members: (groupName) => this.membersOf(groupName),
      groupsOf: (userName) => this.groupsOfUser(userName),
      deploymentExecutions: (name) => {
        const config = this.deployments.get(key(name));
        return config ? this.deploymentHistory(config, clock()) : [];
      },
      exportExecutions: (name) => {
        const config = this.exports.get(key(name));
        return config ? this.exportHistory(config, clock()) : [];
      },
      task: (taskId) => {
        const task = this.tasks.get(taskId);
        return task ? taskStatusJson(task, clock()) : undefined;
      },
    };
  }
}

function runKey(kind: TaskKind, name: string): string {
  return `${kind}:${name.toLowerCase()}`;
}
