// The JSON shapes the EPMware REST API sends and accepts, as the vendor documentation shows them.
// Nullable fields are nullable because real tenants contain such rows, not because the docs say so.

export type YesNo = 'Y' | 'N';
export type UserType = 'NATIVE' | 'SAML';

export interface UpstreamUser {
  userName: string;
  firstName: string | null;
  lastName: string | null;
  email: string | null;
  enable: YesNo;
  userType: UserType;
  /** Absent (not null) on many rows. */
  description?: string;
}

export interface UpstreamGroup {
  name: string;
  description: string | null;
  enable: YesNo;
}

/** `GET /security/users/groups`; userName is spelled in upper case. */
export interface UpstreamUserGroups {
  userName: string;
  groups: string[];
}

/** An element of `GET /security/groups/users`; member names are upper case. */
export interface UpstreamGroupUsers {
  groupName: string;
  users: string[];
}

export interface UpstreamCreatedUser {
  id: string;
  userName: string;
  email: string;
  enable: YesNo;
}

export interface UpstreamUpdatedUser {
  id: string;
  userName: string;
  updateDate: string;
}

export interface UpstreamValueMessage {
  value: string;
}

/** P pending, R running, S success, E error. */
export type TaskStatusCode = 'P' | 'R' | 'S' | 'E';

export interface UpstreamTaskStatus {
  taskId: string;
  status: TaskStatusCode;
  /** A string in every upstream answer, e.g. "40". */
  percentCompleted: string;
  message: string;
}

export interface UpstreamTaskSubmitted {
  status: 'S';
  taskId: string;
  message?: string;
}

export interface UpstreamDeploymentExecution {
  id: string;
  deploymentName: string;
  startDate: string | null;
  /** null while running, and on stale "In Progress" rows. */
  endDate: string | null;
  /** Free text in varied spellings: Success, SUCCESS, Error, Failed, Running, In Progress, Cancelled. */
  statusMeaning: string;
}

export interface UpstreamDeploymentExecutionDetails {
  vEWVDeploymentExecutions: UpstreamDeploymentExecution[];
}

export interface UpstreamExportExecution {
  id: string;
  exportName: string;
  startDate: string | null;
  endDate: string | null;
  outputFileName: string | null;
  /** Bytes; a number on most rows, a numeric string on some, null when there is no file. */
  outputFileSize: number | string | null;
  statusMeaning: string;
}

export interface UpstreamExportExecutionDetails {
  vEWVExportExecutions: UpstreamExportExecution[];
}

export interface UpstreamError {
  status: 'E';
  message: string;
}
