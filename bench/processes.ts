/**
 * The benchmarked servers as processes of their own, and what the kernel says about them: CPU time from
 * /proc/<pid>/stat (the process' own user + system time, whatever else runs on the machine) and resident memory
 * from /proc/<pid>/status, sampled while load runs.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BUILT_ENTRY, PROJECT_ROOT, startGatewayProcess } from '../test/gateway-process.ts';

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

export interface Target {
  name: string;
  pid: number;
  url: URL;
  stop(): Promise<void>;
}

/** User + system CPU the process has used so far, in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')': utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Samples RSS every `everyMs` until stopped; returns the peak. */
export function sampleRss(pid: number, everyMs = 50): () => number {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // The process ended; keep the peak seen.
    }
  }, everyMs);
  return () => {
    clearInterval(timer);
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {}
    return peak;
  };
}

/** Builds dist/ so the gateway runs compiled, as in production. */
export function buildGateway(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    cwd: PROJECT_ROOT,
    stdio: 'inherit',
  });
}

/** The compiled gateway (`node dist/main.js`) in front of `epmwareUrl`, NODE_ENV=production. */
export async function startGateway(epmwareUrl: string, env: Record<string, string> = {}): Promise<Target> {
  const gateway = await startGatewayProcess(
    { EPMWARE_URL: epmwareUrl, NODE_ENV: 'production', LOG_LEVEL: 'error', ...env },
    BUILT_ENTRY,
  );
  return {
    name: 'gateway',
    pid: gateway.child.pid as number,
    url: gateway.url,
    stop: async () => {
      await gateway.stop();
    },
  };
}

/** One of bench/reference-server.ts's servers. */
export async function startReference(
  kind: 'yoga' | 'jit' | 'bare',
  simulatorUrl: string,
  token: string,
): Promise<Target> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'bench/reference-server.ts', kind, simulatorUrl, token],
    {
      cwd: PROJECT_ROOT,
      env: { ...process.env, NODE_ENV: 'production' },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<URL>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`reference ${kind}: no READY in 30 s`)), 30_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const ready = /READY (\S+)/.exec(output);
      if (ready?.[1]) {
        clearTimeout(timer);
        resolve(new URL(ready[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`reference ${kind} exited (${code})`)));
  });
  return {
    name: kind,
    pid: child.pid as number,
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin.end();
        setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
      }),
  };
}
