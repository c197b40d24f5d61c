/**
 * A port for a process a test starts later (a gateway, redis-server) and may restart on the same port. Chosen
 * below the kernel's ephemeral range: a port taken there with listen(0) and released would be free game for every
 * other test file's listen(0) and outgoing connection until the process binds it (one such race made a
 * rolling-restart run fail with EADDRINUSE). Below the range, only another test choosing the same way can collide,
 * 1 in ~20,000 per pair.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 12_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  const high = ephemeralLow();
  const low = Math.max(1_024, high - 20_000);
  for (let tries = 0; tries < 50; tries++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await bindable(port)) return port;
  }
  throw new Error('no free port below the ephemeral range after 50 tries');
}
