/**
 * The 19 EPMware endpoints, bound to one credential. Resolvers call these and never build URLs themselves, so the
 * endpoint labels, rate-limit classes, cache invalidations and the checks on ids placed in a path live in one place.
 */
import type { Readable } from 'node:stream';
import { idOrName, idsOrNames } from '../validation.ts';
import type { Priority, UpstreamClient, UpstreamStream } from './client.ts';
import type { Credential } from './credential.ts';
import type {
  EpmCreatedUser,
  EpmDeploymentExecution,
  EpmExportExecution,
  EpmGroup,
  EpmGroupMembers,
  EpmTaskStatus,
  EpmTaskSubmitted,
  EpmUpdatedUser,
  EpmUser,
  EpmUserGroups,
  EpmValue,
  SsoUserFields,
} from './types.ts';

/** Upstream paths whose cached answers a change to users or memberships makes stale. */
export const SECURITY_READS = ['/security/'];

/** What the endpoints need of the client: a request's context hands in one that counts its calls. */
export type UpstreamCalls = Pick<UpstreamClient, 'json' | 'text' | 'stream'>;

/**
 * An id or name placed in an upstream path, as one encoded segment. validation.ts' idOrName refuses what could
 * leave its segment or name another endpoint: empty, `.` and `..` (they survive encodeURIComponent, and URL
 * parsing on either side normalises them away, so `task/get_status/..` would become `GET /service/api/task/`),
 * `/`, `\`, control characters (also once percent-decoded, up to three times) and more than 256 characters.
 * Throws BAD_USER_INPUT, before any upstream call.
 */
export function pathSegment(value: string, argument: string): string {
  return encodeURIComponent(idOrName(value, argument));
}

export class Epmware {
  constructor(
    private readonly client: UpstreamCalls,
    readonly credential: Credential,
  ) {}

  // Task
  async taskStatus(
    taskId: string,
    priority: Priority = 'interactive',
    signal?: AbortSignal,
  ): Promise<EpmTaskStatus> {
    return this.client.json({
      method: 'GET',
      path: `/task/get_status/${pathSegment(taskId, 'taskId')}`,
      endpoint: 'task/get_status',
      credential: this.credential,
      priority,
      signal,
    });
  }

  async taskLog(taskId: string): Promise<string> {
    return this.client.text({
      method: 'GET',
      path: `/task/get_log_file/${pathSegment(taskId, 'taskId')}`,
      endpoint: 'task/get_log_file',
      credential: this.credential,
    });
  }

  // ERP
  uploadErpFile(body: { stream: Readable; contentType: string }): Promise<EpmTaskSubmitted> {
    return this.client.json({
      method: 'POST',
      path: '/erp/upload_file',
      endpoint: 'erp/upload_file',
      endpointClass: 'upload',
      credential: this.credential,
      body,
    });
  }

  async runErpImport(name: string, timeoutMin?: number): Promise<EpmTaskSubmitted> {
    return this.client.json({
      method: 'POST',
      path: '/erp/run',
      endpoint: 'erp/run',
      credential: this.credential,
      json: { name: idOrName(name, 'name'), timeout_min: timeoutMin },
    });
  }

  // Deployment
  async runDeployment(name: string, timeoutMin?: number): Promise<EpmTaskSubmitted> {
    return this.client.json({
      method: 'POST',
      path: '/deployment/run',
      endpoint: 'deployment/run',
      credential: this.credential,
      json: { name: idOrName(name, 'name'), timeout_min: timeoutMin },
    });
  }

  async deploymentExecutions(name: string, latestOnly: boolean): Promise<EpmDeploymentExecution[]> {
    const answer = await this.client.json<{ vEWVDeploymentExecutions?: EpmDeploymentExecution[] | null }>({
      method: 'GET',
      path: '/deployment/get_execution_details',
      endpoint: 'deployment/get_execution_details',
      credential: this.credential,
      query: { name: idOrName(name, 'name'), latest_only: latestOnly ? 'Y' : 'N' },
    });
    return answer.vEWVDeploymentExecutions ?? [];
  }

  // Export
  async runExport(target: { name: string } | { bookName: string }): Promise<EpmTaskSubmitted> {
    return this.client.json({
      method: 'POST',
      path: '/export/run',
      endpoint: 'export/run',
      credential: this.credential,
      json:
        'name' in target
          ? { name: idOrName(target.name, 'name') }
          : { book_name: idOrName(target.bookName, 'bookName') },
    });
  }

  async downloadExportFile(taskId: string, signal?: AbortSignal): Promise<UpstreamStream> {
    return this.client.stream({
      method: 'GET',
      path: `/export/download_file/${pathSegment(taskId, 'taskId')}`,
      endpoint: 'export/download_file',
      credential: this.credential,
      signal,
    });
  }

  async exportExecutions(name: string, latestOnly: boolean): Promise<EpmExportExecution[]> {
    const answer = await this.client.json<{ vEWVExportExecutions?: EpmExportExecution[] | null }>({
      method: 'GET',
      path: '/export/get_execution_details',
      endpoint: 'export/get_execution_details',
      credential: this.credential,
      query: { name: idOrName(name, 'name'), latest_only: latestOnly ? 'Y' : 'N' },
    });
    return answer.vEWVExportExecutions ?? [];
  }

  // Security: reads
  listUsers(userType?: string): Promise<EpmUser[]> {
    return this.client.json({
      method: 'GET',
      path: '/security/users',
      endpoint: 'security/users',
      credential: this.credential,
      query: { userType },
    });
  }

  listGroups(): Promise<EpmGroup[]> {
    return this.client.json({
      method: 'GET',
      path: '/security/groups',
      endpoint: 'security/groups',
      credential: this.credential,
    });
  }

  /** Every group with its members (no groupName), or one group's. */
  async groupMembers(groupName?: string): Promise<EpmGroupMembers[]> {
    return this.client.json({
      method: 'GET',
      path: '/security/groups/users',
      endpoint: 'security/groups/users',
      credential: this.credential,
      query: { groupName: groupName === undefined ? undefined : idOrName(groupName, 'groupName') },
    });
  }

  async userGroups(userName: string): Promise<EpmUserGroups> {
    return this.client.json({
      method: 'GET',
      path: '/security/users/groups',
      endpoint: 'security/users/groups',
      credential: this.credential,
      query: { userName: idOrName(userName, 'userName') },
    });
  }

  // Security: writes
  async createSsoUser(input: SsoUserFields & { userName: string }): Promise<EpmCreatedUser> {
    return this.client.json({
      method: 'POST',
      path: '/security/users/sso/create',
      endpoint: 'security/users/sso/create',
      credential: this.credential,
      json: { ...input, userName: idOrName(input.userName, 'userName') },
    });
  }

  async updateSsoUser(userName: string, input: SsoUserFields): Promise<EpmUpdatedUser> {
    return this.client.json({
      method: 'PUT',
      path: `/security/users/sso/update/${pathSegment(userName, 'userName')}`,
      endpoint: 'security/users/sso/update',
      credential: this.credential,
      json: input,
    });
  }

  async setUserEnabled(userName: string, enabled: boolean): Promise<EpmValue> {
    const action = enabled ? 'enable' : 'disable';
    return this.client.json({
      method: 'PATCH',
      path: `/security/users/sso/${action}/${pathSegment(userName, 'userName')}`,
      endpoint: `security/users/sso/${action}`,
      credential: this.credential,
    });
  }

  async assignGroups(userName: string, groupNames: string[]): Promise<EpmValue> {
    return this.client.json({
      method: 'POST',
      path: '/security/users/sso/assign_groups',
      endpoint: 'security/users/sso/assign_groups',
      endpointClass: 'bulk',
      credential: this.credential,
      json: { userName: idOrName(userName, 'userName'), groupNames: idsOrNames(groupNames, 'groupNames') },
    });
  }

  async unassignGroups(userName: string, groupNames: string[]): Promise<EpmValue> {
    return this.client.json({
      method: 'POST',
      path: '/security/users/sso/unassign_groups',
      endpoint: 'security/users/sso/unassign_groups',
      endpointClass: 'bulk',
      credential: this.credential,
      json: { userName: idOrName(userName, 'userName'), groupNames: idsOrNames(groupNames, 'groupNames') },
    });
  }
}
