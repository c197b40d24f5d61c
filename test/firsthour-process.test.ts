/**
 * The first hour as an operator sees it, as real processes: the production entry never serves the simulator by
 * accident; an unreachable EPMware is named at start-up; `npm start` and `npm run start:prod` are the process a
 * process manager signals (SIGTERM to npm's PID runs the graceful shutdown and frees the port); a port in use is
 * one line and exit 2.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { PRIMARY_CATALOG } from '../src/simulator/catalog.ts';
import {
  BUILT_ENTRY,
  type GatewayProcess,
  PROJECT_ROOT,
  runUntilExit,
  startGatewayProcess,
} from './gateway-process.ts';
import { usersCountThrough } from './harness.ts';

const built = existsSync(join(PROJECT_ROOT, 'dist', 'main.js'));
if (!built)
  console.warn(
    '\n*** firsthour-process: dist/ not built (npm run build): production-entry tests skipped ***\n',
  );

let running: GatewayProcess | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** A port that refuses connections: listened on, then closed. */
async function closedPort(): Promise<number> {
  const server = await listening(0);
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function listening(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** The process npm started for the script (npm's only child), with its command line and environment. */
function npmChild(npmPid: number): { pid: number; argv: string[]; env: string[] } {
  const pid = Number(
    execFileSync('ps', ['-o', 'pid=', '--ppid', String(npmPid)], { encoding: 'utf8' }).trim(),
  );
  const read = (file: string) => readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0').filter(Boolean);
  return { pid, argv: read('cmdline'), env: read('environ') };
}

describe('the production entry (node dist/main.js)', () => {
  it.skipIf(!built)('refuses to start without EPMWARE_URL: one line saying what to set, exit 2', async () => {
    const exit = await runUntilExit({ NODE_OPTIONS: '' }, BUILT_ENTRY);
    expect(exit.code).toBe(2);
    const lines = exit.stderr.trim().split('\n');
    expect(lines, exit.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^Configuration error: EPMWARE_URL is not set/);
    expect(lines[0]).toContain('EPMWARE_URL=simulator');
    expect(exit.stdout).not.toContain('GraphiQL at');
    expect(exit.stdout).not.toContain('Demo token');
  });

  it.skipIf(!built)('with EPMWARE_URL=simulator it serves the embedded simulator, as asked', async () => {
    running = await startGatewayProcess({ NODE_OPTIONS: '', EPMWARE_URL: 'simulator' }, BUILT_ENTRY);
    expect(running.simulatorUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(running.demoToken).toBeTruthy();
  });
});

describe('the start-up probe', () => {
  it('an unreachable EPMWARE_URL: starts, and warns with the address and the cause', async () => {
    const port = await closedPort();
    running = await startGatewayProcess({ EPMWARE_URL: `http://127.0.0.1:${port}/service/api` });
    const banner = running.stdout();
    expect(banner).toContain(
      `Warning: EPMware at http://127.0.0.1:${port} cannot be reached (ECONNREFUSED, connection refused`,
    );
    expect(banner).toContain(`Upstream: http://127.0.0.1:${port}\n`);
    const health = await request(new URL('/healthz', running.url));
    expect(health.statusCode).toBe(200);
    await health.body.dump();
  });
});

describe('listening', () => {
  it('a port in use: one line naming PORT and what to do, exit 2, no stack trace', async () => {
    const blocker = await listening(0);
    const { port } = blocker.address() as { port: number };
    try {
      const exit = await runUntilExit({ PORT: String(port) });
      expect(exit.code).toBe(2);
      const lines = exit.stderr.trim().split('\n');
      expect(lines, exit.stderr).toHaveLength(1);
      expect(lines[0]).toBe(
        `Configuration error: PORT: 127.0.0.1:${port} is already in use (another gateway still running?): ` +
          'stop that process or set PORT to a free port',
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('npm scripts, stopped by npm’s PID as a process manager does', () => {
  const scripts: Array<[script: string, env: Record<string, string>, runnable: boolean]> = [
    ['start', {}, true],
    ['start:prod', { EPMWARE_URL: 'simulator' }, built],
  ];
  for (const [script, env, runnable] of scripts) {
    it.skipIf(!runnable)(
      `npm run ${script}: node is npm's child, SIGTERM shuts down gracefully and frees the port`,
      async () => {
        running = await startGatewayProcess({ NODE_OPTIONS: '', ...env }, ['run', script], 'npm');
        const npmPid = running.child.pid ?? 0;
        // No shell or tsx wrapper in between: the gateway is the process npm forwards signals to, in production mode.
        const child = npmChild(npmPid);
        expect(child.argv[0]).toMatch(/node$/);
        expect(child.argv.at(-1)).toMatch(script === 'start' ? /src\/main\.ts$/ : /dist\/main\.js$/);
        expect(child.env).toContain('NODE_ENV=production');

        process.kill(npmPid, 'SIGTERM');
        const exit = await running.exited;
        running = undefined;
        expect(exit.stdout).toContain('"msg":"gateway stopped"');
        // The port is free again: the next start will not die on EADDRINUSE.
        const port = Number(new URL(exit.stdout.match(/GraphiQL at (\S+)/)?.[1] ?? '').port);
        const again = await listening(port);
        await new Promise((resolve) => again.close(resolve));
        expect(existsSync(`/proc/${child.pid}`)).toBe(false);
      },
      60_000,
    );
  }
});

describe('npm run simulator', () => {
  it('prints a URL EPMWARE_URL takes, its tokens and names, and a controls URL that answers', async () => {
    const child = spawn('npm', ['run', '--silent', 'simulator'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, SIM_PORT: '0', NODE_OPTIONS: '' },
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    const exited = new Promise((resolve) => child.once('close', resolve));
    try {
      await expect.poll(() => out, { timeout: 30_000 }).toMatch(/controls: .*\n/);
      const line = (label: string) => new RegExp(`${label}:\\s+(.*)`).exec(out)?.[1] ?? '';
      const base = /listening on (\S+)/.exec(out)?.[1] ?? '';
      expect(line('gateway')).toBe(`EPMWARE_URL=${base} npm start`);
      expect(line('deployments')).toContain(
        PRIMARY_CATALOG.deployments
          .filter((d) => !d.neverRun)
          .map((d) => d.name)
          .join(', '),
      );
      expect(line('export profiles')).toBe(PRIMARY_CATALOG.exportProfiles.map((e) => e.name).join(', '));
      expect(line('export books')).toBe(PRIMARY_CATALOG.exportBooks.map((e) => e.name).join(', '));
      expect(line('ERP configs')).toContain(PRIMARY_CATALOG.erp.map((c) => c.name).join(', '));
      const token = line('primary token');

      // The controls URL, exactly as printed, lists what it can do; info answers too.
      const controlsUrl = line('controls').split(' ')[0] ?? '';
      const index = await request(controlsUrl);
      expect(index.statusCode).toBe(200);
      expect(JSON.stringify(await index.body.json())).toContain('GET /__sim/info');
      const info = await request(new URL('info', controlsUrl));
      expect(((await info.body.json()) as { tokens: { primary: string } }).tokens.primary).toBe(token);

      // Both printed URLs work as EPMWARE_URL: the base and the API URL.
      for (const printed of [base, /API under (\S+)\)/.exec(out)?.[1] ?? '']) {
        const body = JSON.parse(await usersCountThrough(printed, token)) as {
          data?: { users: { totalCount: number } };
        };
        expect(body.data?.users.totalCount, printed).toBeGreaterThan(0);
      }
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  }, 60_000);
});
