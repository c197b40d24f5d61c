// The 19 endpoints under /service/api, each with the service that must be running for it to answer.
import type { ServiceName } from './contract.ts';
import { downloadExportFile } from './export-file.ts';
import type { RequestContext } from './http.ts';
import {
  deploymentExecutionDetails,
  exportExecutionDetails,
  runDeployment,
  runErpImport,
  runExport,
} from './runs.ts';
import {
  changeGroups,
  createSsoUser,
  groupUsers,
  listGroups,
  listUsers,
  setUserEnabled,
  updateSsoUser,
  userGroups,
} from './security.ts';
import { getTaskLogFile, getTaskStatus } from './task-routes.ts';
import { uploadErpFile } from './upload.ts';

export const API_PREFIX = '/service/api/';
export const UPLOAD_PATH = '/service/api/erp/upload_file';

type Handler = (ctx: RequestContext) => void | Promise<void>;

interface Route {
  method: string;
  /** Segments after /service/api/; ':name' captures one segment. */
  segments: string[];
  service: ServiceName;
  handler: Handler;
}

const route = (method: string, pattern: string, service: ServiceName, handler: Handler): Route => ({
  method,
  segments: pattern.split('/'),
  service,
  handler,
});

const ROUTES: Route[] = [
  route('GET', 'task/get_status/:taskId', 'task', getTaskStatus),
  route('GET', 'task/get_log_file/:taskId', 'task', getTaskLogFile),
  route('POST', 'erp/upload_file', 'erp', uploadErpFile),
  route('POST', 'erp/run', 'erp', runErpImport),
  route('POST', 'deployment/run', 'deployment', runDeployment),
  route('GET', 'deployment/get_execution_details', 'deployment', deploymentExecutionDetails),
  route('POST', 'export/run', 'export', runExport),
  route('GET', 'export/download_file/:taskId', 'export', downloadExportFile),
  route('GET', 'export/get_execution_details', 'export', exportExecutionDetails),
  route('POST', 'security/users/sso/create', 'security', createSsoUser),
  route('PUT', 'security/users/sso/update/:username', 'security', updateSsoUser),
  route('PATCH', 'security/users/sso/enable/:username', 'security', setUserEnabled(true)),
  route('PATCH', 'security/users/sso/disable/:username', 'security', setUserEnabled(false)),
  route('POST', 'security/users/sso/assign_groups', 'security', changeGroups(true)),
  route('POST', 'security/users/sso/unassign_groups', 'security', changeGroups(false)),
  route('GET', 'security/users', 'security', listUsers),
  route('GET', 'security/groups', 'security', listGroups),
  route('GET', 'security/users/groups', 'security', userGroups),
  route('GET', 'security/groups/users', 'security', groupUsers),
];

export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'notFound' }
  | { kind: 'methodNotAllowed'; allow: string[] }
  | { kind: 'badPath' };

function matchSegments(pattern: string[], actual: string[]): Record<string, string> | null | 'badPath' {
  if (pattern.length !== actual.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i] ?? '';
    const got = actual[i] ?? '';
    if (want.startsWith(':')) {
      if (got === '') return null;
      try {
        params[want.slice(1)] = decodeURIComponent(got);
      } catch {
        return 'badPath';
      }
    } else if (want !== got) {
      return null;
    }
  }
  return params;
}

export function matchRoute(method: string, path: string): RouteMatch {
  if (!path.startsWith(API_PREFIX)) return { kind: 'notFound' };
  const actual = path.slice(API_PREFIX.length).split('/');
  const allow: string[] = [];
  for (const r of ROUTES) {
    const params = matchSegments(r.segments, actual);
    if (params === null) continue;
    if (params === 'badPath') return { kind: 'badPath' };
    if (r.method === method) return { kind: 'found', route: r, params };
    allow.push(r.method);
  }
  return allow.length > 0 ? { kind: 'methodNotAllowed', allow } : { kind: 'notFound' };
}

export const SERVICE_DOWN_MESSAGES: Record<ServiceName, string> = {
  deployment: 'Deployment Service is not running',
  erp: 'ERP Import Service is not running',
  export: 'Export Service is not running',
  security: 'Security Service is not running',
  task: 'Task Service is not running',
};
