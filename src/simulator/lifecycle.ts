// Everything that outlives a request (sleeping handlers, linger timers, open sockets) is registered here, so
// close() can end all of it: a test's afterAll must not leave the process waiting on a stray timer.
import type { Socket } from 'node:net';

export class Lifecycle {
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private readonly sockets = new Set<Socket>();
  closed = false;

  track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Resolves true after `ms`, or false at once if the simulator is closing. */
  sleep(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve(true);
      }, ms);
      this.timers.set(timer, () => resolve(false));
    });
  }

  later(ms: number, fn: () => void): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.set(timer, () => {});
  }

  close(): void {
    this.closed = true;
    for (const [timer, cancel] of this.timers) {
      clearTimeout(timer);
      cancel();
    }
    this.timers.clear();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
