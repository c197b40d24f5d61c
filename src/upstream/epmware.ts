/**
 * The 19 EPMware endpoints, bound to one credential. Resolvers call these and never build URLs themselves, so the
 * endpoint labels, rate-limit classes, cache invalidations and the checks on ids placed in a path live in one place.
 */
import type { Readable } from 'node:stream';
import { idOrName, idsOrNames } from '../validation.ts';
import type { UpstreamClient, UpstreamStream } from './client.ts';
import type { Credential } from './credential.ts';
import type { CallCounter, Priority, UpstreamCall } from './pipeline.ts';
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

/** What the endpoints need of the client. */
export type UpstreamCalls = Pick<UpstreamClient, 'json' | 'text' | 'stream'>;

/** What every call made through one `Epmware` carries besides its credential. */
export interface CallerOptions {
  /** The GraphQL operation's counter of upstream calls (none for task pollers and downloads). */
  counter?: CallCounter;
  /** The client's address when EPMWARE_TOKEN stands in for it: its fair share of that token's budget. */
  clientKey?: string;
}

/** A call as an endpoint method describes it; the credential and the caller's options are added on the way. */
type EndpointCall = Omit<UpstreamCall, 'credential' | 'counter' | 'clientKey'>;

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
  readonly #client: UpstreamCalls;
  readonly #caller: CallerOptions;

  constructor(
    client: UpstreamCalls,
    readonly credential: Credential,
    caller: CallerOptions = {},
  ) {
    this.#client = client;
    this.#caller = caller;
  }

  #bound(call: EndpointCall): UpstreamCall {
    return { ...call, credential: this.credential, ...this.#caller };
  }

  #json<T>(call: EndpointCall): Promise<T> {
    return this.#client.json<T>(this.#bound(call));
  }

  // Task
  async taskStatus(taskId: string, priority: Priority = 'interactive'): Promise<EpmTaskStatus> {
    return this.#json({
      method: 'GET',
      path: `/task/get_status/${pathSegment(taskId, 'taskId')}`,
      endpoint: 'task/get_status',
      priority,
    });
  }

  /**
   * A task poller's poll: background priority, and its own request (never joined to another caller's), so that
   * `signal` withdraws its budget claim and its request when the last watcher leaves.
   */
  async pollTaskStatus(taskId: string, signal: AbortSignal): Promise<EpmTaskStatus> {
    return this.#json({
      method: 'GET',
      path: `/task/get_status/${pathSegment(taskId, 'taskId')}`,
      endpoint: 'task/get_status',
      priority: 'background',
      ownRequest: true,
      signal,
    });
  }

  async taskLog(taskId: string): Promise<string> {
    return this.#client.text(
      this.#bound({
        method: 'GET',
        path: `/task/get_log_file/${pathSegment(taskId, 'taskId')}`,
        endpoint: 'task/get_log_file',
      }),
    );
  }

  // ERP
  uploadErpFile(body: { stream: Readable; contentType: string }): Promise<EpmTaskSubmitted> {
    return this.#json({
      method: 'POST',
      path: '/erp/upload_file',
      endpoint: 'erp/upload_file',
      endpointClass: 'upload',
      body,
    });
  }

  async runErpImport(name: string, timeoutMin?: number): Promise<EpmTaskSubmitted> {
    return this.#json({
      method: 'POST',
      path: '/erp/run',
      endpoint: 'erp/run',
      json: { name: idOrName(name, 'name'), timeout_min: timeoutMin },
    });
  }

  // Deployment
  async runDeployment(name: string, timeoutMin?: number): Promise<EpmTaskSubmitted> {
    return this.#json({
      method: 'POST',
      path: '/deployment/run',
      endpoint: 'deployment/run',
      json: { name: idOrName(name, 'name'), timeout_min: timeoutMin },
    });
  }

  async deploymentExecutions(name: string, latestOnly: boolean): Promise<EpmDeploymentExecution[]> {
    const answer = await this.#json<{ vEWVDeploymentExecutions?: EpmDeploymentExecution[] | null }>({
      method: 'GET',
      path: '/deployment/get_execution_details',
      endpoint: 'deployment/get_execution_details',
      query: { name: idOrName(name, 'name'), latest_only: latestOnly ? 'Y' : 'N' },
    });
    return answer.vEWVDeploymentExecutions ?? [];
  }

  // Export
  async runExport(target: { name: string } | { bookName: string }): Promise<EpmTaskSubmitted> {
    return this.#json({
      method: 'POST',
      path: '/export/run',
      endpoint: 'export/run',
      json:
        'name' in target
          ? { name: idOrName(target.name, 'name') }
          : { book_name: idOrName(target.bookName, 'bookName') },
    });
  }

  async downloadExportFile(taskId: string, signal?: AbortSignal): Promise<UpstreamStream> {
    return this.#client.stream(
      this.#bound({
        method: 'GET',
        path: `/export/download_file/${pathSegment(taskId, 'taskId')}`,
        endpoint: 'export/download_file',
        signal,
      }),
    );
  }

  async exportExecutions(name: string, latestOnly: boolean): Promise<EpmExportExecution[]> {
    const answer = await this.#json<{ vEWVExportExecutions?: EpmExportExecution[] | null }>({
      method: 'GET',
      path: '/export/get_execution_details',
      endpoint: 'export/get_execution_details',
      query: { name: idOrName(name, 'name'), latest_only: latestOnly ? 'Y' : 'N' },
    });
    return answer.vEWVExportExecutions ?? [];
  }

  // Security: reads
  listUsers(userType?: string): Promise<EpmUser[]> {
    return this.#json({
      method: 'GET',
      path: '/security/users',
      endpoint: 'security/users',
      query: { userType },
    });
  }

  listGroups(): Promise<EpmGroup[]> {
    return this.#json({
      method: 'GET',
      path: '/security/groups',
      endpoint: 'security/groups',
    });
  }

  /** Every group with its members (no groupName), or one group's. */
  async groupMembers(groupName?: string): Promise<EpmGroupMembers[]> {
    return this.#json({
      method: 'GET',
      path: '/security/groups/users',
      endpoint: 'security/groups/users',
      query: { groupName: groupName === undefined ? undefined : idOrName(groupName, 'groupName') },
    });
  }

  async userGroups(userName: string): Promise<EpmUserGroups> {
    return this.#json({
      method: 'GET',
      path: '/security/users/groups',
      endpoint: 'security/users/groups',
      query: { userName: idOrName(userName, 'userName') },
    });
  }

  // Security: writes
  async createSsoUser(input: SsoUserFields & { userName: string }): Promise<EpmCreatedUser> {
    return this.#json({
      method: 'POST',
      path: '/security/users/sso/create',
      endpoint: 'security/users/sso/create',
      json: { ...input, userName: idOrName(input.userName, 'userName') },
    });
  }

  async updateSsoUser(userName: string, input: SsoUserFields): Promise<EpmUpdatedUser> {
    return this.#json({
      method: 'PUT',
      path: `/security/users/sso/update/${pathSegment(userName, 'userName')}`,
      endpoint: 'security/users/sso/update',
      json: input,
    });
  }

  async setUserEnabled(userName: string, enabled: boolean): Promise<EpmValue> {
    const action = enabled ? 'enable' : 'disable';
    return this.#json({
      method: 'PATCH',
      path: `/security/users/sso/${action}/${pathSegment(userName, 'userName')}`,
      endpoint: `security/users/sso/${action}`,
    });
  }

  async assignGroups(userName: string, groupNames: string[]): Promise<EpmValue> {
    return this.#json({
      method: 'POST',
      path: '/security/users/sso/assign_groups',
      endpoint: 'security/users/sso/assign_groups',
      endpointClass: 'bulk',
      json: { userName: idOrName(userName, 'userName'), groupNames: idsOrNames(groupNames, 'groupNames') },
    });
  }

  async unassignGroups(userName: string, groupNames: string[]): Promise<EpmValue> {
    return this.#json({
      method: 'POST',
      path: '/security/users/sso/unassign_groups',
      endpoint: 'security/users/sso/unassign_groups',
      endpointClass: 'bulk',
      json: { userName: idOrName(userName, 'userName'), groupNames: idsOrNames(groupNames, 'groupNames') },
    });
  }
}
