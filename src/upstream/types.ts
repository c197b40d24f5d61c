/** EPMware's JSON shapes as the gateway reads them: loose where real data is loose (see the simulator's oddities). */
export type YesNo = 'Y' | 'N';

export interface EpmUser {
  userName: string;
  firstName?: string | null;
  lastName?: string | null;
  email?: string | null;
  description?: string | null;
  enable?: YesNo | string | null;
  userType?: string | null;
}

export interface EpmGroup {
  name: string;
  description?: string | null;
  enable?: YesNo | string | null;
}

export interface EpmGroupMembers {
  groupName: string;
  users: string[];
}

export interface EpmUserGroups {
  userName: string;
  groups: string[];
}

export interface EpmTaskStatus {
  taskId: string;
  status: string;
  percentCompleted?: string | number | null;
  message?: string | null;
}

export interface EpmTaskSubmitted {
  status: string;
  taskId: string;
  message?: string | null;
}

export interface EpmDeploymentExecution {
  id: string | number;
  deploymentName?: string | null;
  startDate?: string | null;
  endDate?: string | null;
  statusMeaning?: string | null;
}

export interface EpmExportExecution {
  id: string | number;
  exportName?: string | null;
  startDate?: string | null;
  endDate?: string | null;
  outputFileName?: string | null;
  outputFileSize?: number | string | null;
  statusMeaning?: string | null;
}

export interface EpmValue {
  value: string;
}

export interface EpmCreatedUser {
  id: string;
  userName: string;
  email?: string;
  enable?: string;
}

export interface EpmUpdatedUser {
  id: string;
  userName: string;
  updateDate?: string;
}

export interface SsoUserFields {
  firstName?: string;
  lastName?: string;
  email?: string;
  description?: string;
}
