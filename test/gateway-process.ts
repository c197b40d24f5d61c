/**
 * The gateway as a real process (`node --import tsx src/main.ts`, or the built `dist/main.js`), for what only a
 * process shows: start-up output, exit codes, signals. With no EPMWARE_URL it starts its embedded simulator; the
 * URLs and the demo token are read from the banner it prints.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The contract's variables and TRUST_PROXY: what the README's configuration table must list. */
export const CONTRACT_VARIABLES = [
  'EPMWARE_URL',
  'EPMWARE_TOKEN',
  'PORT',
  'HOST',
  'TASK_POLL_INTERVAL_MS',
  'UPSTREAM_TIMEOUT_MS',
  'UPSTREAM_RATE_LIMIT_PER_MIN',
  'MAX_UPLOAD_BYTES',
  'CACHE_TTL_MS',
  'CORS_ORIGINS',
  'INTROSPECTION',
  'LOG_LEVEL',
  'TRUST_PROXY',
];

/** Removed from the inherited environment so each test states its own: the contract's variables and the rest. */
const CLEARED_VARIABLES = [
  ...CONTRACT_VARIABLES,
  'NODE_ENV',
  'MAX_UPSTREAM_CALLS_PER_OPERATION',
  'PERSISTED_DOCUMENTS',
  'PERSISTED_DOCUMENTS_ONLY',
];

export const SOURCE_ENTRY = ['--import', 'tsx', 'src/main.ts'];
export const BUILT_ENTRY = ['dist/main.js'];

function environment(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CLEARED_VARIABLES) delete base[name];
  // No drain unless a test asks for one: stopping a test's gateway should not wait SHUTDOWN_DRAIN_MS.
  return { ...base, PORT: '0', SHUTDOWN_DRAIN_MS: '0', ...env };
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface GatewayProcess {
  child: ChildProcess;
  /** http://127.0.0.1:PORT/graphql, from the banner. */
  url: URL;
  /** The embedded simulator's origin, when the gateway started one. */
  simulatorUrl: string | undefined;
  demoToken: string | undefined;
  stdout(): string;
  exited: Promise<Exit>;
  /** SIGTERM, then the exit (SIGKILL after 15 s so a broken shutdown cannot hang the test run). */
  stop(): Promise<Exit>;
}

function collect(child: ChildProcess) {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      // 'exit' can precede the last 'data' events; 'close' follows them.
      child.once('close', () => resolve({ code, signal, stdout, stderr }));
    });
  });
  return { exited, stdout: () => stdout, stderr: () => stderr };
}

/** Runs the gateway until it exits by itself (a configuration error), with a 15 s safety net. */
export async function runUntilExit(env: Record<string, string>, entry = SOURCE_ENTRY): Promise<Exit> {
  const child = spawn(process.execPath, entry, { cwd: PROJECT_ROOT, env: environment(env) });
  const { exited } = collect(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const exit = await exited;
  clearTimeout(timer);
  return exit;
}

/** Starts the gateway (by default `node <entry>`; `command` 'npm' with entry ['start'] runs it as npm does). */
export async function startGatewayProcess(
  env: Record<string, string> = {},
  entry = SOURCE_ENTRY,
  command = process.execPath,
): Promise<GatewayProcess> {
  const child = spawn(command, entry, { cwd: PROJECT_ROOT, env: environment(env) });
  const output = collect(child);
  const banner = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner in 20 s:\n${output.stdout()}`)), 20_000);
    const check = () => {
      const text = output.stdout();
      // The banner's last line: the demo token when a simulator was started, else the upstream.
      const ready = /embedded EPMware simulator/.test(text)
        ? /Demo token: .*\n/.test(text)
        : /Upstream: .*\n/.test(text);
      if (ready) {
        clearTimeout(timer);
        resolve(text);
      }
    };
    child.stdout?.on('data', check);
    void output.exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${exit.code}) before its banner:\n${exit.stdout}\n${exit.stderr}`));
    });
  });
  const url = new URL(/GraphiQL at (\S+)/.exec(banner)?.[1] ?? '');
  return {
    child,
    url,
    simulatorUrl: /embedded EPMware simulator at (\S+)/.exec(banner)?.[1],
    demoToken: /Demo token: (\S+)/.exec(banner)?.[1],
    stdout: output.stdout,
    exited: output.exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const exit = await output.exited;
      clearTimeout(timer);
      return exit;
    },
  };
}
