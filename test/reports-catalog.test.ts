/**
 * Reports without an operator: the built-in set (valid against the schema, served with no manifest), GET /reports
 * (names, columns, variables, URLs), reports by operation name, DeploymentRuns as one row per run across several
 * deployments with aligned cells, joined lists that keep empty values, a chosen row path, the CSV escaping rule,
 * and a manifest written by GraphQL Code Generator's client preset (keys `sha256:<hex>`), generated here by the real
 * generator from examples/operations/reporting.graphql.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preset as clientPreset } from '@graphql-codegen/client-preset';
import { codegen } from '@graphql-codegen/core';
import { parse as parseCsv } from 'csv-parse/sync';
import { buildSchema, parse, validate } from 'graphql';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_REPORTS } from '../src/reports/builtin.ts';
import { csvField } from '../src/reports/formats.ts';
import { schema } from '../src/schema/index.ts';
import { type Stack, startStack } from './harness.ts';
import { basic } from './odata-client.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where the generated manifest is written, as an app's build would, for PERSISTED_DOCUMENTS to read. */
const CODEGEN_OUT = mkdtempSync(join(tmpdir(), 'codegen-'));

let stack: Stack;
let codegenManifest: Record<string, string>;

/**
 * The client preset's manifest for the reporting examples, as an app's build writes it: the preset's own outputs,
 * run by @graphql-codegen/core (the CLI adds only file loading, and its loaders need Node 22).
 */
async function codegenPersistedDocuments(): Promise<Record<string, string>> {
  const schemaText = readFileSync(join(ROOT, 'schema.graphql'), 'utf8');
  const location = join(ROOT, 'examples/operations/reporting.graphql');
  const text = readFileSync(location, 'utf8');
  const outputs = await clientPreset.buildGeneratesSection({
    baseOutputDir: 'gql/',
    presetConfig: { persistedDocuments: { hashAlgorithm: 'sha256' } },
    plugins: [],
    pluginMap: {},
    schema: parse(schemaText),
    schemaAst: buildSchema(schemaText),
    documents: [{ location, document: parse(text), rawSDL: text }],
    config: {},
    documentTransforms: [],
    pluginContext: {},
  });
  // The manifest's output waits for the typed documents' output: all of them run together.
  const written = await Promise.all(outputs.map((output) => codegen(output)));
  const at = outputs.findIndex((output) => output.filename === 'gql/persisted-documents.json');
  return JSON.parse(written[at] ?? '{}') as Record<string, string>;
}

beforeAll(async () => {
  codegenManifest = await codegenPersistedDocuments();
  const path = join(CODEGEN_OUT, 'persisted-documents.json');
  writeFileSync(path, JSON.stringify(codegenManifest, null, 2));
  stack = await startStack({ env: { PERSISTED_DOCUMENTS: path, CACHE_TTL_MS: '0' } });
}, 60_000);
afterAll(async () => {
  await stack?.close();
  rmSync(CODEGEN_OUT, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

async function get(path: string, variables?: unknown, authorization = basic(stack.token)): Promise<Answer> {
  const url = new URL(path, stack.origin);
  if (variables !== undefined) url.searchParams.set('variables', JSON.stringify(variables));
  const answer = await request(url, { headers: { authorization } });
  return { status: answer.statusCode, headers: answer.headers, text: await answer.body.text() };
}

const csv = (text: string) => parseCsv(text, { columns: true }) as Array<Record<string, string>>;

describe('the built-in reports', () => {
  it('are valid queries against the served schema', () => {
    for (const report of BUILTIN_REPORTS) {
      expect(validate(schema, parse(report.text)).map((e) => e.message)).toEqual([]);
    }
  });

  it('GET /reports lists built-in and manifest reports with columns, variables and URLs', async () => {
    const answer = await get('/reports');
    expect(answer.status).toBe(200);
    const { reports } = JSON.parse(answer.text) as { reports: Array<Record<string, unknown>> };
    const byName = new Map(reports.map((report) => [report.name as string, report]));
    expect([...byName.keys()]).toEqual(
      expect.arrayContaining([
        'UsersWithGroups',
        'Memberships',
        'DeploymentRuns',
        'ExportRuns',
        'DeploymentStatistics',
        'ExportStatistics',
        'AccessReviewReport',
        'DeploymentHistoryReport',
      ]),
    );
    expect(byName.get('DeploymentRuns')).toMatchObject({
      source: 'builtin',
      rows: 'deployments.executions',
      columns: [
        'name',
        'executions.executionId',
        'executions.state',
        'executions.status',
        'executions.startedAt',
        'executions.endedAt',
        'executions.durationSeconds',
      ],
      variables: expect.arrayContaining([{ name: 'names', type: '[String!]!', required: true }]),
      csv: `${stack.origin}/reports/DeploymentRuns.csv`,
      ndjson: `${stack.origin}/reports/DeploymentRuns.ndjson`,
      odata: `${stack.origin}/odata/DeploymentExecutions?$filter=deploymentName in ('NAME')`,
    });
    // The client preset prints selections and variables in its own (alphabetical) order: columns follow it.
    const access = byName.get('AccessReviewReport');
    expect(access).toMatchObject({
      source: 'manifest',
      csv: `${stack.origin}/reports/AccessReviewReport.csv`,
    });
    expect([...((access?.columns ?? []) as string[])].sort()).toEqual(
      ['userName', 'firstName', 'lastName', 'email', 'enabled', 'userType', 'groups.name'].sort(),
    );
    expect(access?.variables).toEqual(
      expect.arrayContaining([
        { name: 'first', type: 'Int', required: false, default: '1000' },
        { name: 'after', type: 'String', required: false },
      ]),
    );
    expect(stack.sim.requests()).toHaveLength(0);
  });
});

describe('reports by name', () => {
  it('a manifest report by operation name, with Basic credentials', async () => {
    const answer = await get('/reports/AccessReviewReport.csv');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-disposition']).toBe('attachment; filename="AccessReviewReport.csv"');
    expect(
      csv(answer.text)
        .map((row) => row.userName)
        .sort(),
    ).toEqual(
      stack.sim
        .state()
        .users()
        .map((u) => u.userName)
        .sort(),
    );
  });

  it('Memberships: one row per user and group, the user repeated on each', async () => {
    const answer = await get('/reports/Memberships.ndjson');
    expect(answer.status).toBe(200);
    const rows = answer.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, string>);
    const state = stack.sim.state();
    const expected = state
      .users()
      .flatMap((u) => state.groupsOf(u.userName).map((g) => `${u.userName}|${g}`))
      .sort();
    expect(rows.map((row) => `${row.userName}|${row['groups.name']}`).sort()).toEqual(expected);
    expect(Object.keys(rows[0] ?? {})).toEqual(['userName', 'groups.name']);
  });

  it('DeploymentRuns: one row per run across several deployments, every cell in its own column', async () => {
    const names = stack.sim.fixtures.deploymentNames.slice(0, 3);
    const answer = await get('/reports/DeploymentRuns.csv', { names });
    expect(answer.status).toBe(200);
    const rows = csv(answer.text);
    const expected = names.flatMap((name) =>
      stack.sim
        .state()
        .deploymentExecutions(name)
        .map((run) => `${name}|${run.id}|${run.endDate ? 'ended' : ''}`),
    );
    expect(
      rows
        .map(
          (row) => `${row.name}|${row['executions.executionId']}|${row['executions.endedAt'] ? 'ended' : ''}`,
        )
        .sort(),
    ).toEqual(expected.sort());
    expect(rows.length).toBeGreaterThan(names.length);
  });

  it('joined lists keep empty values, so the joined cells of one row line up', async () => {
    const names = stack.sim.fixtures.deploymentNames;
    const answer = await get('/reports/DeploymentHistoryReport.ndjson', { names });
    const rows = answer.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, string>);
    let withEmpty = 0;
    for (const row of rows) {
      const ids = (row['executions.executionId'] ?? '').split('; ');
      const ends = (row['executions.endedAt'] ?? '').split('; ');
      expect(ends).toHaveLength(ids.length);
      if (ends.includes('')) withEmpty++;
    }
    // At least one deployment has a run that has not ended: the case that misaligned before.
    expect(withEmpty).toBeGreaterThan(0);

    // The same document, one row per run instead: ?rows= picks the list.
    const perRun = await get(`/reports/DeploymentHistoryReport.csv?rows=deployments.executions`, {
      names: names.slice(0, 2),
    });
    expect(perRun.status).toBe(200);
    const header = perRun.text.split('\r\n')[0]?.split(',') ?? [];
    expect(header[0]).toBe('name');
    expect(header.slice(1).sort()).toEqual(
      ['id', 'executionId', 'name', 'state', 'status', 'startedAt', 'endedAt', 'durationSeconds']
        .map((field) => `executions.${field}`)
        .sort(),
    );
    expect(csv(perRun.text).length).toBeGreaterThan(2);
    const bad = await get('/reports/DeploymentHistoryReport.csv?rows=deployments.nope', { names });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('an unknown name is 404 NOT_FOUND with no upstream call', async () => {
    stack.sim.clearRequests();
    const answer = await get('/reports/NoSuchReport.csv');
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.text)).toEqual({
      code: 'NOT_FOUND',
      message: 'No report is named NoSuchReport: GET /reports lists them',
    });
    expect(stack.sim.requests()).toHaveLength(0);
  });
});

describe('CSV escaping', () => {
  it("text that starts like a formula gets a leading '; numbers and booleans never; NDJSON raw", async () => {
    const hostile = {
      userName: 'csv.escaping',
      firstName: '=HYPERLINK("http://x","click")',
      lastName: '-2+3',
      email: 'csv.escaping@example.com',
      description: '@sum(a1)',
    };
    const created = await stack.graphql(
      'mutation ($input: CreateSsoUserInput!) { createSsoUser(input: $input) { userName } }',
      { input: hostile },
    );
    expect(created.errors).toBeUndefined();
    const answer = await get('/reports/UsersWithGroups.csv');
    const row = csv(answer.text).find((r) => r.userName === hostile.userName);
    expect(row).toMatchObject({
      firstName: `'${hostile.firstName}`,
      lastName: `'${hostile.lastName}`,
      email: hostile.email,
      description: `'${hostile.description}`,
      enabled: 'true',
    });
    const ndjson = await get('/reports/UsersWithGroups.ndjson');
    const raw = ndjson.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((r) => r.userName === hostile.userName);
    expect(raw).toMatchObject({ firstName: hostile.firstName, lastName: hostile.lastName });
    // Numbers and booleans are values, not text: never prefixed.
    expect([
      csvField(-5),
      csvField(-0.25),
      csvField(false),
      csvField('-5'),
      csvField('\tx'),
      csvField('\rx'),
    ]).toEqual(['-5', '-0.25', 'false', "'-5", "'\tx", `"'\rx"`]);
  });
});

describe("GraphQL Code Generator's client preset manifest", () => {
  it('loads with its sha256: keys; a report runs by prefixed id, bare id and name', async () => {
    const keys = Object.keys(codegenManifest);
    expect(keys.length).toBe(3);
    expect(keys.every((key) => /^sha256:[0-9a-f]{64}$/.test(key))).toBe(true);
    const [id] =
      Object.entries(codegenManifest).find(([, text]) => text.includes('query AccessReviewReport')) ?? [];
    const names = stack.sim.state().users().length;
    for (const path of [
      `/reports/${id}.csv`,
      `/reports/${id?.slice('sha256:'.length)}.csv`,
      '/reports/AccessReviewReport.csv',
    ]) {
      const answer = await get(path);
      expect(answer.status, path).toBe(200);
      expect(csv(answer.text)).toHaveLength(names);
    }
  });
});
