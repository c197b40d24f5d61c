/**
 * The reports every gateway serves without a manifest: users with their groups, memberships, deployment and export
 * runs (one row per run across several configurations), and execution statistics. Each is a query against the
 * graph, run like any report; an operator's manifest (PERSISTED_DOCUMENTS) adds reports, and one of its operations
 * with the same name replaces the built-in one. test/reports-catalog.test.ts validates every text against the
 * schema.
 */

export interface BuiltinReport {
  text: string;
  /** The default row path (`?rows=` overrides it). */
  rows?: string;
  /** The OData feed's URL (relative to /odata/) for the same rows, for BI tools that prefer it. */
  odata?: string;
  description: string;
}

const RUN_FIELDS = 'executionId state status startedAt endedAt durationSeconds';
const STATS_FIELDS =
  'runs succeeded failed running cancelled successRate meanDurationSeconds p50DurationSeconds p95DurationSeconds maxDurationSeconds';

export const BUILTIN_REPORTS: readonly BuiltinReport[] = [
  {
    description: 'Every user with their groups (one cell, names joined with "; ")',
    text: `query UsersWithGroups {
  users(orderBy: { field: USER_NAME }) {
    nodes { userName firstName lastName email enabled userType description groups { name } }
  }
}`,
    odata: 'Users',
  },
  {
    description: 'One row per user and group the user belongs to',
    text: `query Memberships {
  users(orderBy: { field: USER_NAME }) {
    nodes { userName groups { name } }
  }
}`,
    rows: 'users.nodes.groups',
    odata: 'Memberships',
  },
  {
    description:
      'One row per run of the named deployments (variables: names, and since/until/state to narrow)',
    text: `query DeploymentRuns($names: [String!]!, $since: DateTime, $until: DateTime, $state: ExecutionState) {
  deployments(names: $names) {
    name
    executions(since: $since, until: $until, state: $state) { ${RUN_FIELDS} }
  }
}`,
    rows: 'deployments.executions',
    odata: "DeploymentExecutions?$filter=deploymentName in ('NAME')",
  },
  {
    description: 'One row per run of the named exports (variables: names, and since/until/state to narrow)',
    text: `query ExportRuns($names: [String!]!, $since: DateTime, $until: DateTime, $state: ExecutionState) {
  exports(names: $names) {
    name
    executions(since: $since, until: $until, state: $state) { ${RUN_FIELDS} outputFileName outputFileSizeBytes }
  }
}`,
    rows: 'exports.executions',
    odata: "ExportExecutions?$filter=exportName in ('NAME')",
  },
  {
    description: 'Run statistics of the named deployments in [since, until) (all runs without a range)',
    text: `query DeploymentStatistics($names: [String!]!, $since: DateTime, $until: DateTime) {
  deployments(names: $names) { name stats(since: $since, until: $until) { ${STATS_FIELDS} } }
}`,
  },
  {
    description: 'Run statistics of the named exports in [since, until) (all runs without a range)',
    text: `query ExportStatistics($names: [String!]!, $since: DateTime, $until: DateTime) {
  exports(names: $names) { name stats(since: $since, until: $until) { ${STATS_FIELDS} } }
}`,
  },
];
