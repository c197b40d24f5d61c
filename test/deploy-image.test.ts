/**
 * The image's runtime, without Docker (this machine cannot pull images): deploy/Dockerfile's stages replayed in a
 * clean temporary directory — the production-dependencies stage's own `npm ci` line (with --offline: npm's cache,
 * filled by the project's `npm ci`, has every package), the runtime stage's COPYs, then its CMD with its ENV against
 * a simulator — and the image must serve a query, answer /healthz and pass its own HEALTHCHECK. `npm start`, the
 * development entry, must refuse there with one line instead of serving the simulator's demo data.
 * Needs dist/ (`npm run build`, which .ci/run runs before the tests): skipped visibly without it, except under CI.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import {
  type Copy,
  copies,
  execForm,
  instructions,
  readDockerfile,
  type Stage,
  single,
  stageEnv,
  stageNamed,
} from './deploy-files.ts';
import { freePort } from './free-port.ts';
import { PROJECT_ROOT } from './gateway-process.ts';

const run = promisify(execFile);

const built = existsSync(join(PROJECT_ROOT, 'dist', 'main.js'));
if (!built) {
  if (process.env.CI === 'true') throw new Error('CI=true and dist/ is not built: run npm run build first');
  console.warn(
    '\n*** deploy-image: dist/ not built (npm run build): the image runtime test is skipped ***\n',
  );
}

const stages = readDockerfile();
const runtime = stages.at(-1) as Stage;
const WORKDIR = '/app';

/**
 * Where each stage's WORKDIR is on this machine: `build` is the project itself (built before the tests run), the
 * others are directories the test makes.
 */
const stageDirs = new Map<string, string>([['build', PROJECT_ROOT]]);

function localPath(copy: Copy, source: string): string {
  if (copy.from === null) return join(PROJECT_ROOT, source);
  const dir = stageDirs.get(copy.from);
  if (!dir || !source.startsWith(`${WORKDIR}/`))
    throw new Error(`COPY --from=${copy.from} ${source}: not replayed`);
  return join(dir, source.slice(WORKDIR.length + 1));
}

/** COPY as Docker does it: into a directory when the destination ends with `/` (or has several sources). */
function replayCopies(stage: Stage, dir: string): void {
  expect(single(stage, 'WORKDIR').args).toBe(WORKDIR);
  for (const copy of copies(stage)) {
    const intoDir = copy.destination.endsWith('/') || copy.sources.length > 1;
    for (const source of copy.sources) {
      const target = intoDir ? join(dir, copy.destination, basename(source)) : join(dir, copy.destination);
      mkdirSync(join(target, '..'), { recursive: true });
      const from = localPath(copy, source);
      // A stage directory is the test's own: moved, not copied (node_modules is ~100 MB).
      if (copy.from !== null && copy.from !== 'build') renameSync(from, target);
      else cpSync(from, target, { recursive: true });
    }
  }
}

/** The stage's one RUN, which must be a plain `npm ci …`, run with --offline. */
async function replayNpmCi(stage: Stage, dir: string): Promise<void> {
  const [only, ...others] = instructions(stage, 'RUN');
  expect(others).toEqual([]);
  expect(only?.args).toMatch(/^npm ci( --[a-z-]+(=\S+)?)*$/);
  const args = (only?.args ?? '').split(/\s+/).slice(1);
  await run('npm', [...args, '--offline'], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' } });
}

/** The container's environment: the image's ENV and what `docker run -e` adds, nothing from this process. */
function containerEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...stageEnv(runtime), ...extra };
}

interface Output {
  code: number | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess): { text: () => string; exited: Promise<Output> } {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<Output>((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { text: () => stdout, exited };
}

/** The HEALTHCHECK command, run as Docker would inside the container; its exit code. */
async function healthcheck(dir: string, port: number): Promise<number> {
  const [command, ...args] = execForm(single(runtime, 'HEALTHCHECK').args);
  expect(command).toBe('node');
  try {
    await run(process.execPath, args, {
      cwd: dir,
      env: containerEnv({ PORT: String(port) }),
      timeout: 10_000,
    });
    return 0;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

describe.skipIf(!built)("the image's runtime stage, replayed in a clean directory", () => {
  let root: string;
  let app: string;
  let sim: Simulator;
  let gateway: ChildProcess | undefined;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'epmware-image-'));
    sim = await startSimulator({ rateLimits: 'relaxed' });
    for (const stage of stages.filter((each) => each.name !== 'build' && each !== runtime)) {
      const dir = join(root, stage.name);
      mkdirSync(dir);
      replayCopies(stage, dir);
      await replayNpmCi(stageNamed(stages, stage.name), dir);
      stageDirs.set(stage.name, dir);
    }
    app = join(root, 'app');
    mkdirSync(app);
    replayCopies(runtime, app);
  }, 120_000);

  afterAll(async () => {
    gateway?.kill('SIGKILL');
    await sim?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('holds dist/ and the production dependencies only: no tsx, no test tools, no sources', () => {
    expect(existsSync(join(app, 'dist', 'main.js'))).toBe(true);
    expect(existsSync(join(app, 'node_modules', 'graphql-yoga'))).toBe(true);
    for (const devOnly of ['tsx', 'vitest', 'typescript', '@biomejs'])
      expect(existsSync(join(app, 'node_modules', devOnly)), devOnly).toBe(false);
    expect(existsSync(join(app, 'src'))).toBe(false);
  });

  it('CMD with the image ENV and an EPMWARE_URL serves a query, /healthz and its HEALTHCHECK', async () => {
    const port = await freePort();
    const [command, ...args] = execForm(single(runtime, 'CMD').args);
    expect(command).toBe('node');
    gateway = spawn(process.execPath, args, {
      cwd: app,
      env: containerEnv({ PORT: String(port), EPMWARE_URL: sim.url }),
    });
    const output = collect(gateway);
    await expect.poll(output.text, { timeout: 20_000 }).toMatch(/Upstream: .*\n/);
    expect(output.text()).toContain(`Upstream: ${sim.url}\n`);
    expect(output.text()).not.toContain('embedded EPMware simulator');

    sim.clearRequests();
    const response = await request(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Token ${sim.tokens.primary}` },
      body: JSON.stringify({ query: '{ users { totalCount } }' }),
    });
    const body = (await response.body.json()) as { data?: { users: { totalCount: number } } };
    expect(response.statusCode).toBe(200);
    expect(body.data?.users.totalCount).toBeGreaterThan(0);
    const calls = sim.requests({ path: '/service/api/security/users' });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.headers.authorization).toBe(`Token ${sim.tokens.primary}`);

    const health = await request(`http://127.0.0.1:${port}/healthz`);
    expect(health.statusCode).toBe(200);
    await health.body.dump();
    expect(await healthcheck(app, port)).toBe(0);

    gateway.kill('SIGTERM');
    expect((await output.exited).code).toBe(0);
    gateway = undefined;
    // The same check against a stopped gateway fails: it is a check, not a formality.
    expect(await healthcheck(app, port)).not.toBe(0);
  }, 60_000);

  it('CMD without EPMWARE_URL refuses to start: one line, exit 2, nothing served', async () => {
    const [, ...args] = execForm(single(runtime, 'CMD').args);
    const child = spawn(process.execPath, args, { cwd: app, env: containerEnv({ PORT: '0' }) });
    const exit = await collect(child).exited;
    expect(exit.code).toBe(2);
    expect(exit.stderr.trim().split('\n')).toHaveLength(1);
    expect(exit.stderr).toMatch(/^Configuration error: EPMWARE_URL is not set/);
    expect(exit.stdout).not.toContain('GraphiQL at');
  });

  it('npm start (the development entry) refuses with one clear line instead of serving the simulator', async () => {
    const child = spawn('npm', ['start'], { cwd: app, env: containerEnv({ PORT: '0' }) });
    const exit = await collect(child).exited;
    expect(exit.code).toBe(2);
    expect(exit.stderr.trim()).toBe(
      'npm start is the development entry (the TypeScript source, needs npm ci with dev dependencies); ' +
        'in production run: EPMWARE_URL=https://your-epmware node dist/main.js',
    );
    expect(exit.stdout).not.toContain('GraphiQL at');
    expect(exit.stdout).not.toContain('Demo token');
  });
});
