// Deployment, export and ERP import configurations of a tenant, with their seeded execution histories.
// Histories are dated before BASE_TIME so that runs made now always sort first (newest first).
import { Random } from './random.ts';
import type { UpstreamDeploymentExecution, UpstreamExportExecution } from './types.ts';

const BASE_TIME = Date.UTC(2025, 5, 1, 2, 0, 0);
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** A history row is either frozen seeded JSON or a live view of a task this simulator ran. */
export type HistoryEntry<Row> = { kind: 'seeded'; row: Row } | { kind: 'task'; id: string; taskId: string };

export interface Failure {
  /** The step (0..8) at which every run of this configuration fails. */
  step: number;
  message: string;
}

export interface DeploymentConfig {
  name: string;
  /** How long a run "takes" upstream; a timeout_min below this makes the run time out. */
  typicalMinutes: number;
  failure: Failure | null;
  history: HistoryEntry<UpstreamDeploymentExecution>[];
}

export interface ExportConfig {
  name: string;
  kind: 'profile' | 'book';
  typicalMinutes: number;
  history: HistoryEntry<UpstreamExportExecution>[];
}

export interface ErpConfig {
  name: string;
  typicalMinutes: number;
  failure: Failure | null;
}

export interface CatalogSpec {
  /** neverRun: no history at all (an empty vEWVDeploymentExecutions), as a configuration set up but not yet run. */
  deployments: readonly { name: string; minutes: number; failure?: Failure; neverRun?: boolean }[];
  exportProfiles: readonly { name: string; minutes: number }[];
  exportBooks: readonly { name: string; minutes: number }[];
  erp: readonly { name: string; minutes: number; failure?: Failure }[];
}

export const PRIMARY_CATALOG: CatalogSpec = {
  deployments: [
    { name: 'ASOALL', minutes: 45 },
    {
      name: 'HFM_PROD',
      minutes: 30,
      failure: {
        step: 3,
        message:
          "Deployment 'HFM_PROD' failed: unable to connect to target application 'HFM_PROD' (Connection refused: hfmprod.acme-corp.com:443)",
      },
    },
    { name: 'PLANNING_DEV', minutes: 12 },
    { name: 'PROD_DAILY', minutes: 25 },
    { name: 'PROD_WEEKLY', minutes: 50 },
    { name: 'FCCS_CONSOL', minutes: 35 },
    // Last, and drawing nothing from the seeded random sequence, so every other history stays as it was.
    { name: 'DR_FAILOVER', minutes: 20, neverRun: true },
  ],
  exportProfiles: [
    { name: 'PBCS', minutes: 15 },
    { name: 'HFM_EXPORT', minutes: 20 },
    { name: 'ESSBASE_OUTLINE', minutes: 10 },
    { name: 'FCCS_METADATA', minutes: 8 },
  ],
  exportBooks: [
    { name: 'PBCS_BOOK', minutes: 30 },
    { name: 'MONTH_END_BOOK', minutes: 40 },
  ],
  erp: [
    { name: 'ASOALL_Account', minutes: 10 },
    { name: 'ASOALL_Entity', minutes: 8 },
    { name: 'ASOALL_Product', minutes: 12 },
    {
      name: 'HFM_Account',
      minutes: 10,
      failure: {
        step: 3,
        message:
          "ERP Import 'HFM_Account' failed: 37 records rejected - member 'ACC_9999' not found in dimension 'Account'",
      },
    },
    { name: 'PBCS_CostCenter', minutes: 6 },
  ],
};

export const SECONDARY_CATALOG: CatalogSpec = {
  deployments: [
    { name: 'ASOALL', minutes: 20 },
    { name: 'ARCS_RECON', minutes: 15 },
    { name: 'PROD_DAILY', minutes: 10 },
  ],
  exportProfiles: [
    { name: 'PBCS', minutes: 5 },
    { name: 'ARCS_EXPORT', minutes: 7 },
  ],
  exportBooks: [{ name: 'ARCS_BOOK', minutes: 12 }],
  erp: [
    { name: 'ARCS_Account', minutes: 5 },
    { name: 'ARCS_Entity', minutes: 5 },
  ],
};

export interface Catalog {
  deployments: DeploymentConfig[];
  exports: ExportConfig[];
  erp: ErpConfig[];
  nextExecutionId: number;
}

interface RowOverride {
  status?: string;
  offset?: boolean;
  size?: number | string;
}

// One of each oddity at fixed places, so every tenant and seed shows them: (config index, row index) -> override.
const DEPLOYMENT_OVERRIDES: Record<number, Record<number, RowOverride>> = {
  0: { 1: { status: 'SUCCESS' }, 2: { offset: true } },
  1: { 0: { status: 'Error' }, 1: { status: 'Failed' } },
  2: { 1: { status: 'Cancelled' } },
  3: { 2: { status: 'In Progress' } },
};
const EXPORT_OVERRIDES: Record<number, Record<number, RowOverride>> = {
  0: { 0: { status: 'Success' }, 1: { status: 'Success', size: '15234567' }, 2: { status: 'Error' } },
  1: { 2: { offset: true } },
  2: { 1: { status: 'SUCCESS', size: 3_221_225_472 } },
};

export function generateCatalog(seed: number, spec: CatalogSpec): Catalog {
  const rng = new Random(seed ^ 0x5bd1e995);
  let nextId = rng.int(12_000, 13_000);
  const ids = (count: number): string[] => {
    // Ids grow with recency within a history, which is listed newest first.
    const out = Array.from({ length: count }, (_, i) => String(nextId + count - 1 - i));
    nextId += count;
    return out;
  };

  const deployments = spec.deployments.map((d, index): DeploymentConfig => {
    if (d.neverRun) return { name: d.name, typicalMinutes: d.minutes, failure: null, history: [] };
    const rows = seedRows(rng, d.minutes, d.failure !== undefined, DEPLOYMENT_OVERRIDES[index] ?? {});
    const rowIds = ids(rows.length);
    const history = rows.map(
      (r, i): HistoryEntry<UpstreamDeploymentExecution> => ({
        kind: 'seeded',
        row: {
          id: rowIds[i] ?? '',
          deploymentName: d.name,
          startDate: r.startDate,
          endDate: r.endDate,
          statusMeaning: r.status,
        },
      }),
    );
    return { name: d.name, typicalMinutes: d.minutes, failure: d.failure ?? null, history };
  });

  const exportSpecs = [
    ...spec.exportProfiles.map((e) => ({ ...e, kind: 'profile' as const })),
    ...spec.exportBooks.map((e) => ({ ...e, kind: 'book' as const })),
  ];
  const exports = exportSpecs.map((e, index): ExportConfig => {
    const rows = seedRows(rng, e.minutes, false, EXPORT_OVERRIDES[index] ?? {});
    const rowIds = ids(rows.length);
    const history = rows.map((r, i): HistoryEntry<UpstreamExportExecution> => {
      const succeeded = /^success$/i.test(r.status);
      return {
        kind: 'seeded',
        row: {
          id: rowIds[i] ?? '',
          exportName: e.name,
          startDate: r.startDate,
          endDate: r.endDate,
          outputFileName: succeeded ? `${e.name}_export.csv` : null,
          outputFileSize: succeeded ? (r.size ?? seededSize(rng)) : null,
          statusMeaning: r.status,
        },
      };
    });
    return { name: e.name, kind: e.kind, typicalMinutes: e.minutes, history };
  });

  const erp = spec.erp.map(
    (c): ErpConfig => ({
      name: c.name,
      typicalMinutes: c.minutes,
      failure: c.failure ?? null,
    }),
  );
  return { deployments, exports, erp, nextExecutionId: nextId };
}

interface SeedRow {
  startDate: string;
  endDate: string | null;
  status: string;
  size?: number | string;
}

function seedRows(
  rng: Random,
  minutes: number,
  failing: boolean,
  overrides: Record<number, RowOverride>,
): SeedRow[] {
  const count = rng.int(3, 12);
  const rows: SeedRow[] = [];
  let start = BASE_TIME - rng.int(0, 2 * DAY);
  for (let i = 0; i < count; i++) {
    const override = overrides[i] ?? {};
    const status = override.status ?? seededStatus(rng, i, failing);
    const full = minutes * MINUTE * (0.7 + rng.next() * 0.6) + rng.int(0, 59) * 1000;
    const ran = /^(error|failed)$/i.test(status)
      ? full * (0.2 + rng.next() * 0.7)
      : status === 'Cancelled'
        ? full * 0.3
        : full;
    const offset = override.offset ?? rng.chance(0.12);
    const row: SeedRow = {
      startDate: upstreamDate(start, offset),
      endDate: status === 'In Progress' ? null : upstreamDate(start + ran, offset),
      status,
    };
    if (override.size !== undefined) row.size = override.size;
    rows.push(row);
    start -= rng.int(1, 3) * DAY + rng.int(-120, 120) * MINUTE;
  }
  return rows;
}

function seededStatus(rng: Random, index: number, failing: boolean): string {
  const success = rng.chance(0.2) ? 'SUCCESS' : 'Success';
  if (index === 0) return failing ? 'Error' : success;
  const r = rng.next();
  if (failing) return r < 0.45 ? 'Error' : r < 0.6 ? 'Failed' : r < 0.65 ? 'Cancelled' : success;
  if (r < 0.7) return success;
  if (r < 0.8) return 'Error';
  if (r < 0.86) return 'Failed';
  if (r < 0.92) return 'Cancelled';
  if (r < 0.96) return 'In Progress';
  return success;
}

function seededSize(rng: Random): number | string {
  const size = rng.int(80_000, 40_000_000);
  return rng.chance(0.15) ? String(size) : size;
}

/** ISO-8601 without milliseconds, "Z" or (on some rows) "+00:00", as upstream rows come. */
export function upstreamDate(ms: number, offset = false): string {
  const iso = new Date(Math.round(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return offset ? iso.replace(/Z$/, '+00:00') : iso;
}
