// Export downloads. The file is generated as it is sent, chunk by chunk with backpressure, so a large
// exportFileBytes costs no memory; its content depends only on the export name, so it is reproducible.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RequestContext } from './http.ts';
import { ApiError, notFound } from './http.ts';
import { progressOf, type Task } from './tasks.ts';

const CHUNK_BYTES = 64 * 1024;
const HEADER = 'Entity,Account,Period,Year,Scenario,Version,Amount\n';
const PERIODS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function row(index: number, salt: number): string {
  const n = (index * 2654435761 + salt) >>> 0;
  const amount = ((n % 10_000_000) / 100).toFixed(2);
  return `E${100 + (n % 400)},A${4000 + ((n >>> 9) % 900)},${PERIODS[index % 12]},FY25,Actual,Working,${amount}\n`;
}

/** Exactly `bytes` bytes of CSV (ASCII only, so characters are bytes). */
export function* exportFileChunks(exportName: string, bytes: number): Generator<Buffer> {
  let salt = 0;
  for (const ch of exportName) salt = (salt * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
  let remaining = bytes;
  let text = HEADER;
  let index = 0;
  while (remaining > 0) {
    while (text.length < CHUNK_BYTES) text += row(index++, salt);
    const take = Math.min(remaining, text.length);
    yield Buffer.from(text.slice(0, take), 'latin1');
    text = text.slice(take);
    remaining -= take;
  }
}

export function isExpired(task: Task, now: number, ttlMs: number): boolean {
  if (!task.file) return false;
  return task.file.expired || now >= task.submittedAt + task.durationMs + ttlMs;
}

export async function downloadExportFile(ctx: RequestContext): Promise<void> {
  const now = ctx.sim.now();
  const task = ctx.tenant.tasks.get(ctx.params.taskId ?? '');
  // Unknown, other tenant's, not an export, still running, or failed: all "File not found" upstream.
  if (!task?.file || progressOf(task, now).status !== 'S') {
    throw notFound('File not found');
  }
  if (isExpired(task, now, ctx.sim.config.exportFileTtlMs))
    throw new ApiError(410, 'Export file has expired');
  const { fileName, bytes } = task.file;
  ctx.entry.status = 200;
  ctx.res.writeHead(200, {
    'Content-Type': 'text/csv',
    'Content-Disposition': `attachment; filename="${fileName}"`,
    'Content-Length': bytes,
  });
  try {
    await pipeline(Readable.from(exportFileChunks(task.subject, bytes)), ctx.res);
  } catch {
    // The client went away mid-download; nothing to answer.
  }
}
