/**
 * What the soak's clients share: a tenant (its token, the names it may and may not see) and the workload they run
 * against. Its own module so that the client modules (workload.ts, odata.ts) import it, never each other.
 */
import type { Agent } from 'undici';
import type { SoakRecord } from './record.ts';

export interface Tenant {
  name: 'primary' | 'secondary';
  token: string;
  /** Lower-cased names of users only this tenant has. */
  ownUsers: string[];
  /** Lower-cased names of users only the other tenant has: seeing one is a leak. */
  foreignUsers: Set<string>;
  deploymentNames: string[];
  exportNames: string[];
  erpConfigName: string;
  /** Recent tasks this tenant started (bounded), and its export tasks for downloads. */
  tasks: string[];
  exportTasks: string[];
}

export interface Workload {
  url: URL;
  tenants: [Tenant, Tenant];
  record: SoakRecord;
  hangMs: number;
  subscriptionMs: number;
  dispatcher: Agent;
}
