/**
 * The gateway under soak, as its own process (`node --import tsx src/main.ts`), so its output can be read and its
 * RSS measured apart from the simulator and the clients. Its output is scanned as it streams (never kept whole:
 * a soak logs tens of megabytes) for the tokens and for unhandled rejections.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killOnExit } from './children.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BANNER = /GraphiQL at (http:\/\/\S+)/;
const CRASH_WORDS = /unhandled ?rejection|uncaught ?exception|UnhandledPromiseRejection/i;

export interface RssSample {
  /** Date.now() when sampled. */
  atMs: number;
  bytes: number;
}

export interface SoakGateway {
  url: URL;
  pid: number;
  /** Lines of output seen, those that gave something away (a token) or reported a crash, and those (with when
   * they came, Date.now()) that matched the `notable` pattern the soak asked for. */
  output(): {
    lines: number;
    tokenLines: number;
    crashLines: string[];
    notable: Array<{ at: number; line: string }>;
  };
  rss(): RssSample[];
  exited(): { code: number | null; signal: NodeJS.Signals | null } | null;
  /** Resolves when the process has exited, however. */
  gone: Promise<void>;
  /** Sends a signal now (the instances soak's SIGKILL and SIGTERM; also its synchronous cleanup on exit). */
  signal(name: NodeJS.Signals): void;
  stop(): Promise<void>;
}

function rssBytes(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export async function startSoakGateway(
  env: Record<string, string>,
  secrets: string[],
  notable?: RegExp,
): Promise<SoakGateway> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // However the soak ends (a thrown error, Ctrl-C, CI's SIGTERM), the gateway does not outlive it.
  const forget = killOnExit(() => child.kill('SIGKILL'));
  child.once('exit', forget);
  // SOAK_LOG_DIR=<dir> keeps each gateway's output in <dir>/gateway-<pid>.log, to look into a failed check.
  const logDir = process.env.SOAK_LOG_DIR;
  const log: WriteStream | undefined = logDir
    ? createWriteStream(join(logDir, `gateway-${child.pid ?? 0}.log`))
    : undefined;
  let lines = 0;
  let tokenLines = 0;
  const crashLines: string[] = [];
  const notableLines: Array<{ at: number; line: string }> = [];
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const gone = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    }),
  );

  let url: URL | undefined;
  const ready = new Promise<URL>((resolve, reject) => {
    child.once('exit', () => reject(new Error('the gateway exited before it was ready')));
    const scan = (stream: NodeJS.ReadableStream | null) => {
      let carry = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const text = carry + chunk;
        const parts = text.split('\n');
        carry = parts.pop() ?? '';
        for (const line of parts) {
          lines += 1;
          log?.write(`${Date.now()} ${line}\n`);
          if (secrets.some((secret) => line.includes(secret))) tokenLines += 1;
          if (CRASH_WORDS.test(line) && crashLines.length < 5) crashLines.push(line.slice(0, 300));
          if (notable?.test(line) && notableLines.length < 20) notableLines.push({ at: Date.now(), line });
          const banner = BANNER.exec(line);
          if (banner?.[1] && !url) {
            url = new URL(banner[1]);
            resolve(url);
          }
        }
      });
    };
    scan(child.stdout);
    scan(child.stderr);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const gatewayUrl = await ready.finally(() => clearTimeout(timer));

  const samples: RssSample[] = [];
  const pid = child.pid ?? 0;
  const sampler = setInterval(() => {
    const bytes = rssBytes(pid);
    if (bytes !== null) samples.push({ atMs: Date.now(), bytes });
  }, 1_000);
  void gone.then(() => {
    clearInterval(sampler);
    log?.end();
  });

  return {
    url: gatewayUrl,
    pid,
    output: () => ({ lines, tokenLines, crashLines, notable: notableLines }),
    rss: () => samples,
    exited: () => exit,
    gone,
    signal(name) {
      if (!exit) child.kill(name);
    },
    async stop() {
      clearInterval(sampler);
      if (exit) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(killer);
    },
  };
}
