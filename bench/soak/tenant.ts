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

/**
 * The gateway one request goes to. The single-instance soak always gives the same one; the instances soak picks an
 * instance per request (round robin over those up) and counts what each answered, for its availability check.
 */
export interface Target {
  url: URL;
  /** The request's answer: its HTTP status and parsed body (undefined for a stream or a file), or null status
   * when none came (a dropped connection, a hang). Called once per HTTP request sent to it (an OData refresh sends
   * one per page to the same target). */
  answered(status: number | null, body?: unknown): void;
  /** Whether the target's instance was stopped (SIGKILL, SIGTERM) since it was picked: a failure is the churn's. */
  interrupted(): boolean;
}

export interface Workload {
  /** Where the next request goes. */
  target(): Target;
  tenants: [Tenant, Tenant];
  record: SoakRecord;
  hangMs: number;
  subscriptionMs: number;
  dispatcher: Agent;
  /**
   * Whether a client leaves its open subscription when its run ends (the instances soak, which must fit its
   * wall-clock). Otherwise the run waits for each subscription to end by itself, its task done or its deadline.
   */
  endSubscriptions?: boolean;
  /** Set by client() when endSubscriptions: aborts when that client's run ends. */
  ending?: AbortSignal;
}
