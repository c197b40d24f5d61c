/**
 * Log lines to stdout, written synchronously (a line logged just before exit is not lost) and never blocking the
 * process: once stdout is gone (EPIPE: the reader of a pipe closed it, as `node dist/main.js | head` does), lines are
 * dropped; a full pipe (EAGAIN) is retried for a moment, then the line is dropped rather than the process stalled.
 *
 * Hand-written rather than pino's default destination (sonic-boom): its synchronous flush retries a write that
 * failed with EPIPE forever, and pino runs that flush on exit, so a gateway whose stdout had closed never exited.
 */
import { writeSync } from 'node:fs';

const STDOUT = 1;
/** How long one line may wait for a full pipe to drain before it is dropped. */
const FULL_PIPE_PATIENCE_MS = 100;
const pause = new Int32Array(new SharedArrayBuffer(4));

export function stdoutLines(fd: number = STDOUT): { write(line: string): void } {
  let gone = false;
  return {
    write(line: string): void {
      if (gone) return;
      let bytes = Buffer.from(line, 'utf8');
      const giveUpAt = Date.now() + FULL_PIPE_PATIENCE_MS;
      while (bytes.length > 0) {
        try {
          bytes = bytes.subarray(writeSync(fd, bytes));
        } catch (error) {
          const code = (error as { code?: string }).code;
          if ((code === 'EAGAIN' || code === 'EBUSY') && Date.now() < giveUpAt) {
            Atomics.wait(pause, 0, 0, 1);
            continue;
          }
          // EPIPE, EBADF, or a pipe that stayed full: this line (and, unless it was only full, every later one)
          // is dropped; logging must never be why the process cannot serve or stop.
          if (code !== 'EAGAIN' && code !== 'EBUSY') gone = true;
          return;
        }
      }
    },
  };
}
