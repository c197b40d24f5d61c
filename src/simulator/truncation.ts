// The `truncate` fault: a 200 whose body stops short of its Content-Length and whose connection then closes, as a
// proxy or a crashing upstream leaves it. Kept apart from faults.ts so the fault kinds stay easy to merge.
import type { ServerResponse } from 'node:http';

const PROMISED = '{"status":"S","value":"this answer was cut off before its end"}';

export function sendTruncated(res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(PROMISED) });
  res.write(PROMISED.slice(0, Math.floor(PROMISED.length / 2)));
  // Flush what was written, then cut the connection mid-body.
  setImmediate(() => res.socket?.destroy());
}
