/**
 * The import rules biome.json enforces, run on small projects written to a temporary directory with this
 * repository's biome.json: `npm run lint` fails when a file under src/simulator/ imports from the gateway (the
 * simulator stands for the remote EPMware), and on an import cycle, type-only imports included.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');
const SCRIPTS = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts;

let project: string | undefined;
afterEach(() => {
  if (project) rmSync(project, { recursive: true, force: true });
  project = undefined;
});

/** A project holding `files` (path -> text) and this repository's biome.json. */
function projectWith(files: Record<string, string>): string {
  project = mkdtempSync(join(tmpdir(), 'lint-boundaries-'));
  copyFileSync(join(ROOT, 'biome.json'), join(project, 'biome.json'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(project, path)), { recursive: true });
    writeFileSync(join(project, path), text);
  }
  return project;
}

/** Runs a package.json script's biome command (its arguments as written) in `cwd`. */
function runScript(script: string, cwd: string): Promise<{ code: number; output: string }> {
  const [command, ...args] = (SCRIPTS[script] ?? '').split(' ');
  expect(command).toBe('biome');
  return new Promise((resolve) => {
    execFile(BIOME, args, { cwd }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

describe('npm run lint: the simulator imports nothing from the gateway', () => {
  it('fails on a simulator file importing from src/ outside src/simulator/, statically, as a type or lazily', async () => {
    const cwd = projectWith({
      'src/errors.ts': 'export class InputError extends Error {}\n',
      'src/config.ts': 'export interface Config {\n  port: number;\n}\n',
      'src/simulator/probe.ts':
        "import type { Config } from '../config.ts';\nimport { InputError } from '../errors.ts';\n\n" +
        "export const error = InputError;\nexport type Settings = Config;\nexport const later = () => import('../errors.ts');\n",
    });
    const { code, output } = await runScript('lint', cwd);
    expect(code).not.toBe(0);
    expect(output.match(/lint\/style\/noRestrictedImports/g)).toHaveLength(3);
    expect(output).toContain('src/simulator/probe.ts');
    expect(output).toContain('The simulator stands for the remote EPMware');
  });

  it("passes for the simulator's own imports, and for the gateway's files importing each other", async () => {
    const cwd = projectWith({
      'src/errors.ts': 'export class InputError extends Error {}\n',
      'src/schema/probe.ts':
        "import { InputError } from '../errors.ts';\n\nexport const error = InputError;\n",
      'src/simulator/http.ts': 'export const port = 0;\n',
      'src/simulator/probe.ts':
        "import { createServer } from 'node:http';\nimport { port } from './http.ts';\n\n" +
        'export const server = () => createServer().listen(port);\n',
    });
    const { code, output } = await runScript('lint', cwd);
    expect(output).not.toContain('noRestrictedImports');
    expect(code).toBe(0);
  });
});

describe('npm run lint: no import cycle', () => {
  it('fails on a cycle of type-only imports, naming both files', async () => {
    const cwd = projectWith({
      'src/a.ts': "import type { B } from './b.ts';\n\nexport interface A {\n  b: B;\n}\n",
      'src/b.ts': "import type { A } from './a.ts';\n\nexport interface B {\n  a: A;\n}\n",
    });
    const { code, output } = await runScript('lint', cwd);
    expect(code).not.toBe(0);
    expect(output).toContain('lint/suspicious/noImportCycles');
    expect(output).toContain('src/a.ts');
    expect(output).toContain('src/b.ts');
  });

  it('passes when imports go one way', async () => {
    const cwd = projectWith({
      'src/a.ts': "import type { B } from './b.ts';\n\nexport interface A {\n  b: B;\n}\n",
      'src/b.ts': 'export interface B {\n  name: string;\n}\n',
    });
    const { code, output } = await runScript('lint', cwd);
    expect(output).not.toContain('noImportCycles');
    expect(code).toBe(0);
  });
});
