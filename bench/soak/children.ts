/**
 * The instances soak's child processes (redis-server, gateways) die with it, however it ends: a normal exit, a
 * thrown error, Ctrl-C, SIGTERM from CI. Each child registers a synchronous kill; on any of those ends every kill
 * runs once. (A normal end stops the children itself first; the kills are then no-ops.)
 */
const kills = new Set<() => void>();
let installed = false;

function killAll(): void {
  for (const kill of kills) {
    try {
      kill();
    } catch {
      // Already gone.
    }
  }
  kills.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (error) => {
    process.stderr.write(
      `soak: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    killAll();
    process.exit(1);
  });
}

/** Registers a synchronous kill; returns its removal (for a child that was stopped and waited for). */
export function killOnExit(kill: () => void): () => void {
  install();
  kills.add(kill);
  return () => kills.delete(kill);
}
