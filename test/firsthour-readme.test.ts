/**
 * The README's examples, and those of the docs pages it sends a newcomer to (docs/front-ends.md, docs/reporting.md),
 * run as a newcomer runs them against `npm start`'s demo data: every GraphQL block returns rows, every curl block
 * with the demo token (the quick start, the OData feed, the upload, the download) works pasted into a shell, the
 * names the README promises are the simulator's, and the configuration table lists every variable the gateway reads.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../src/config.ts';
import { CONTRACT_VARIABLES, PROJECT_ROOT } from './gateway-process.ts';
import { type Stack, startStack } from './harness.ts';

const read = (path: string) => readFileSync(join(PROJECT_ROOT, path), 'utf8');
const README = read('README.md');
/** Where the README's examples of reading, writing and reporting moved: its front door links each. */
const EXAMPLE_PAGES = [README, read('docs/front-ends.md'), read('docs/reporting.md')];

function blocks(language: string): string[] {
  return EXAMPLE_PAGES.flatMap((page) =>
    [...page.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1] ?? ''),
  );
}

/** Lists anywhere in a result, with their lengths: "rows" is a non-empty one. */
function listLengths(value: unknown, path = 'data'): Array<[string, number]> {
  if (Array.isArray(value)) {
    return [[path, value.length], ...value.flatMap((item, i) => listLengths(item, `${path}[${i}]`))];
  }
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([key, item]) => listLengths(item, `${path}.${key}`));
  }
  return [];
}

let stack: Stack;
let workDir: string;
beforeAll(async () => {
  // As `npm start` runs it: the simulator's documented data, the demo token.
  stack = await startStack({ demoToken: true, logStream: { write: () => {} } });
  workDir = mkdtempSync(join(tmpdir(), 'readme-'));
});
afterAll(async () => {
  await stack?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('README', () => {
  it('every GraphQL example returns rows on the demo data', async () => {
    // Those that run as they stand (no required variable): the ones a newcomer pastes into GraphiQL.
    // The reading and reporting examples (other sections' examples need variables or a streaming client).
    const examples = blocks('graphql').filter(
      (block) => block.includes('query AdminScreen') || block.includes('"PLANNING_DEV"]) {'),
    );
    expect(examples.length).toBeGreaterThanOrEqual(2);
    for (const example of examples) {
      const answer = await stack.graphql(example);
      expect(answer.errors, example).toBeUndefined();
      const lists = listLengths(answer.data);
      expect(lists.length, example).toBeGreaterThan(0);
      // The outermost list of each example has rows.
      expect(lists[0]?.[1], `${example}\n${JSON.stringify(answer.data)}`).toBeGreaterThan(0);
    }
  });

  it('every curl example works pasted into a shell (quick start, OData feed, upload, download)', async () => {
    // The newcomer's examples: curl with the demo token (other sections' examples need their own setup).
    const examples = blocks('sh').filter(
      (block) => block.includes('curl') && block.includes(stack.token) && !block.includes('npm '),
    );
    // Each example, found by what it does: the quick start's in the README itself, the others where they moved.
    const kinds = ['{ users { totalCount } }', '/odata/Users', 'uploadErpFile', 'runExport'];
    expect(examples.map((block) => kinds.filter((kind) => block.includes(kind)))).toEqual(
      kinds.map((k) => [k]),
    );
    expect(README).toContain(examples[0]);
    expect(README).toContain(examples[1]);
    const outputs: string[] = [];
    const received: Array<ReturnType<Stack['sim']['requests']>> = [];
    for (const block of examples) {
      // Only the address differs from `npm start`'s. The gateway runs in this process: the shell must not block it.
      const script = block.replaceAll('localhost:4000', `127.0.0.1:${stack.url.port}`);
      expect(script, 'the README uses the demo token').toContain(stack.token);
      stack.sim.clearRequests();
      const { stdout } = await promisify(execFile)('sh', ['-ec', script], { cwd: workDir, timeout: 30_000 });
      outputs.push(stdout);
      received.push(stack.sim.requests());
      if (block.includes('/odata/Users')) {
        // The feed read EPMware's users list at most once (the quick start's read may still be cached for this
        // token), and only with the token given as the Basic password.
        const calls = stack.sim.requests({ path: '/service/api/security/users' });
        expect(calls.length).toBeLessThanOrEqual(1);
        expect(stack.sim.requests().every((call) => call.token === stack.token)).toBe(true);
      }
    }
    expect(JSON.parse(outputs[0] ?? '{}')).toEqual({
      data: { users: { totalCount: stack.sim.state().users().length } },
    });
    const feed = JSON.parse(outputs[1] ?? '{}') as {
      '@odata.count'?: number;
      value?: Array<Record<string, unknown>>;
    };
    expect(feed['@odata.count']).toBe(stack.sim.state().users().length);
    expect(feed.value).toHaveLength(2);
    for (const row of feed.value ?? []) expect(Object.keys(row)).toEqual(['userName', 'enabled']);
    const upload = JSON.parse(outputs[2] ?? '{}') as { data?: { uploadErpFile: { taskId: string } } };
    expect(upload.data?.uploadErpFile.taskId).toBeTruthy();
    const uploads = (received[2] ?? []).filter(
      (call) => call.method === 'POST' && call.path === '/service/api/erp/upload_file',
    );
    expect(uploads).toHaveLength(1);
    expect(uploads[0]?.token).toBe(stack.token);
    // The export started and the finished one downloaded under EPMware's file name.
    expect(outputs[3]).toContain(`"downloadUrl":"${stack.origin}/exports/`);
    const downloaded = readdirSync(workDir).filter((file) => file !== 'accounts.csv');
    expect(downloaded).toHaveLength(1);
    expect(statSync(join(workDir, downloaded[0] ?? '')).size).toBeGreaterThan(0);
  }, 60_000);

  it("names the simulator's deployments, exports, books, ERP configurations and its finished export", () => {
    const { fixtures } = stack.sim;
    const names = [
      ...fixtures.deploymentNames,
      ...fixtures.exportNames,
      ...fixtures.exportBookNames,
      ...fixtures.erpConfigNames,
    ];
    for (const name of names) expect(README, name).toContain(`\`${name}\``);
    expect(README).toContain(`export task \`${fixtures.exportTaskId}\``);
    expect(README).toContain(`/exports/${fixtures.exportTaskId}/file`);
  });

  it("lists the contract's variables and TRUST_PROXY in the configuration table", () => {
    const source = readFileSync(join(PROJECT_ROOT, 'src', 'config.ts'), 'utf8');
    const tableRows = README.split('\n').filter((line) => line.startsWith('| `'));
    for (const variable of CONTRACT_VARIABLES) {
      expect(source, variable).toContain(`'${variable}'`);
      expect(
        tableRows.some((row) => row.split('|')[1]?.includes(`\`${variable}\``)),
        variable,
      ).toBe(true);
    }
  });

  it('lists every variable the gateway reads (CONFIG_VARIABLES) in the configuration table', () => {
    const firstCells = README.split('\n')
      .filter((line) => line.startsWith('| `'))
      .map((row) => row.split('|')[1] ?? '');
    expect(CONFIG_VARIABLES.length).toBeGreaterThan(30);
    const missing = CONFIG_VARIABLES.filter(
      (name) => !firstCells.some((cell) => cell.includes(`\`${name}\``)),
    );
    expect(missing).toEqual([]);
  });
});
