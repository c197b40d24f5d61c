// The simulator's public surface. Other code (gateway tests, benchmarks) programs against exactly these
// names, so they live apart from the implementation and are re-exported by index.ts.
import type {
  UpstreamDeploymentExecution,
  UpstreamExportExecution,
  UpstreamGroup,
  UpstreamTaskStatus,
  UpstreamUser,
} from './types.ts';

export interface RateLimits {
  standard: number;
  upload: number;
  bulk: number;
}

export interface SimulatorOptions {
  /** Default 0 (a free port). */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 1; the same seed gives the same tenant data. */
  seed?: number;
  /** Primary tenant size, default 60. */
  users?: number;
  /** Primary tenant groups, default 14. */
  groups?: number;
  /** Added before every /service/api response, default 0. */
  latencyMs?: number;
  /** Default 'documented' = {standard:100, upload:10, bulk:5} per minute per token; 'relaxed' = 1_000_000 each. */
  rateLimits?: RateLimits | 'documented' | 'relaxed';
  /** Submit -> terminal state, default 20_000. */
  taskDurationMs?: number;
  /** Upstream 413 threshold for an uploaded file, default 100 MiB. */
  maxUploadBytes?: number;
  /** Size of a generated export file, default 256 KiB. */
  exportFileBytes?: number;
  /** After this long a finished export's file answers 410, default 3_600_000. */
  exportFileTtlMs?: number;
  /**
   * More tokens of the primary tenant (several API tokens of one EPMware instance): each is its own credential
   * to the gateway and to the rate limits, and sees the primary tenant's data. Default none.
   */
  extraTokens?: readonly string[];
}

export type ServiceName = 'deployment' | 'erp' | 'export' | 'security' | 'task';

export interface RecordedMultipartBody {
  fields: Record<string, string>;
  file: { fieldName: string; filename: string; size: number; sha256: string } | null;
}

export interface RecordedRequest {
  seq: number;
  /** Date.now() when received. */
  at: number;
  method: string;
  /** Without the query string, as received (not percent-decoded). */
  path: string;
  query: Record<string, string>;
  /** Lower-cased names, as received. */
  headers: Record<string, string>;
  /** The token parsed from 'Authorization: Token <t>'; null for a missing header or another scheme. */
  token: string | null;
  /** Parsed JSON body (the raw text when it is not valid JSON); RecordedMultipartBody for uploads; undefined when none. */
  body: unknown;
  /** Status sent; 0 while unanswered or when the socket was reset by a fault. */
  status: number;
  /** true when the simulator's own rate limit refused it (429 'Rate limit exceeded'), as opposed to a 429 a fault
   * injected: a soak counts the former, which a budget that holds never causes. */
  rateLimited: boolean;
  /** The client's TCP port: tells apart the callers behind one address (a soak's gateway instances). */
  remotePort: number;
}

export interface Fault {
  /** Exact path ('/service/api/deployment/run') or a prefix ending in '*' ('/service/api/task/get_status/*'). */
  path: string;
  /** Default: any method. */
  method?: string;
  /** Default: any token. */
  token?: string;
  /** How many matching requests it affects; default unlimited. */
  times?: number;
  /** Only requests whose request line and headers take at least this many bytes: with `reset`, a front door that
   * refuses oversized requests by dropping the connection (as EPMware's did with 20 KB tokens and 60 KB ids). */
  minHeaderBytes?: number;
  /** Answer this status with the EPMware error body. */
  status?: number;
  /** Message for that body. */
  message?: string;
  /** Retry-After header value to send; implies status 429 when no status is given. */
  retryAfter?: string;
  /** Wait this long before handling, then proceed normally unless status/reset is also set. */
  delayMs?: number;
  /** Destroy the socket without answering. */
  reset?: boolean;
  /** Answer 200 with a body cut off before its Content-Length, then close the connection. */
  truncate?: boolean;
  /** Answer `status` (default 200) with exactly this body and these headers instead of the EPMware error body:
   * a misbehaving upstream (an HTML page, a hostile file name). */
  body?: string;
  headers?: Record<string, string>;
}

export interface SimulatorFixtures {
  succeededTaskId: string;
  failedTaskId: string;
  runningTaskId: string;
  exportTaskId: string;
  expiredExportTaskId: string;
  /** Deployments with a seeded or fixture history (every one has at least one run). */
  deploymentNames: string[];
  /** A deployment that exists but has never run: its history is empty. */
  neverRunDeploymentName: string;
  failingDeploymentName: string;
  exportNames: string[];
  exportBookNames: string[];
  erpConfigNames: string[];
  failingErpConfigName: string;
}

export interface RequestFilter {
  method?: string;
  /** Exact path or a prefix ending in '*'. */
  path?: string;
}

export interface ConfigPatch {
  latencyMs?: number;
  /** Changing the limits also empties the rate-limit windows, so a test starts from a clean slate. */
  rateLimits?: SimulatorOptions['rateLimits'];
  /** Applies to tasks submitted from now on. */
  taskDurationMs?: number;
}

/** Read-only copies of a tenant's current data, shaped like the upstream JSON. Unknown names give []. */
export interface TenantView {
  users(): UpstreamUser[];
  groups(): UpstreamGroup[];
  /** Member names as the upstream spells them (upper case). */
  members(groupName: string): string[];
  groupsOf(userName: string): string[];
  /** Whole history, newest first. */
  deploymentExecutions(name: string): UpstreamDeploymentExecution[];
  /** Whole history of an export profile or book, newest first. */
  exportExecutions(name: string): UpstreamExportExecution[];
  task(taskId: string): UpstreamTaskStatus | undefined;
}

export interface Simulator {
  /** 'http://127.0.0.1:PORT', no trailing slash. */
  url: string;
  /** Two tenants with different data. */
  tokens: { primary: string; secondary: string };
  /** All for the primary tenant. */
  fixtures: SimulatorFixtures;
  requests(filter?: RequestFilter): RecordedRequest[];
  clearRequests(): void;
  injectFault(fault: Fault): void;
  clearFaults(): void;
  configure(patch: ConfigPatch): void;
  setServiceDown(service: ServiceName, down: boolean): void;
  /** That export's download answers 410 from now on; throws for an id that is not an export task. */
  expireExportFile(taskId: string): void;
  /** A running task reaches its end now (success, or its failure): its next status is its last. Throws for an
   * unknown id. For a test that has seen enough progress and need not wait out the task's duration. */
  finishTask(taskId: string): void;
  /** Default: the primary tenant; throws for an unknown token. */
  state(token?: string): TenantView;
  /** Closes the server and all sockets, clears timers. */
  close(): Promise<void>;
}
