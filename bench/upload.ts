/**
 * Upload benchmark: a 200 MB file sent through the gateway (uploadErpFile, GraphQL multipart request) and, in the
 * same run, straight to the simulator's erp/upload_file. The gateway runs as its own process (`node --import tsx
 * src/main.ts`, EPMWARE_URL pointing at the in-process simulator) so its resident memory can be watched from
 * outside: /proc/<pid>/status every 50 ms. A gateway that held the file would grow by 200 MB; one that streams
 * grows by its stream buffers. Bodies are generated on the fly from one reused chunk, so the client holds no
 * big buffer either; the simulator hashes what it receives, and the hashes are checked.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { request } from 'undici';
import type { RecordedMultipartBody } from '../src/simulator/index.ts';
import { startSimulator } from '../src/simulator/index.ts';
import { startGatewayProcess } from '../test/gateway-process.ts';
import type { BenchResult } from './types.ts';

const MB = 1024 * 1024;
const FILE_BYTES = 200 * MB;
const CHUNK = csvChunk(64 * 1024);
const SAMPLE_MS = 50;
const ROUNDS = 2;
const ERP_CONFIG = 'ASOALL_Account';

/** 64 KiB of plausible CSV rows: the file is this chunk repeated. */
function csvChunk(bytes: number): Buffer {
  let text = '';
  for (let row = 0; text.length < bytes; row++)
    text += `E${100 + (row % 400)},A${4000 + (row % 900)},Jan,FY25,${row * 37.5}\n`;
  return Buffer.from(text.slice(0, bytes), 'latin1');
}

function* fileChunks(bytes: number): Generator<Buffer> {
  for (let sent = 0; sent < bytes; sent += CHUNK.length) {
    yield sent + CHUNK.length <= bytes ? CHUNK : CHUNK.subarray(0, bytes - sent);
  }
}

function expectedSha256(): string {
  const hash = createHash('sha256');
  for (const chunk of fileChunks(FILE_BYTES)) hash.update(chunk);
  return hash.digest('hex');
}

/** A multipart body around the generated file, with its exact length (so it is sent with a Content-Length). */
function multipart(
  fields: Array<[string, string]>,
  fileField: string,
  fileBytes = FILE_BYTES,
): { body: Readable; length: number; type: string } {
  const boundary = 'bench-boundary-3f9a1c';
  let head = '';
  for (const [name, value] of fields) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  }
  head += `--${boundary}\r\nContent-Disposition: form-data; name="${fileField}"; filename="accounts.csv"\r\nContent-Type: text/csv\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  function* parts(): Generator<Buffer> {
    yield Buffer.from(head);
    yield* fileChunks(fileBytes);
    yield Buffer.from(tail);
  }
  return {
    body: Readable.from(parts(), { objectMode: false }),
    length: Buffer.byteLength(head) + fileBytes + Buffer.byteLength(tail),
    type: `multipart/form-data; boundary=${boundary}`,
  };
}

async function send(url: string, headers: Record<string, string>, upload: ReturnType<typeof multipart>) {
  const started = performance.now();
  const response = await request(url, {
    method: 'POST',
    headers: { ...headers, 'content-type': upload.type, 'content-length': String(upload.length) },
    body: upload.body,
    bodyTimeout: 120_000,
    headersTimeout: 120_000,
  });
  const text = await response.body.text();
  const seconds = (performance.now() - started) / 1000;
  if (response.statusCode !== 200 || text.includes('"errors"')) {
    throw new Error(`upload failed: ${response.statusCode} ${text.slice(0, 300)}`);
  }
  return seconds;
}

/** Resident set size of another process, in bytes. */
async function rssOf(pid: number): Promise<number> {
  if (process.platform === 'linux') {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    if (kb) return Number(kb) * 1024;
  }
  const { stdout } = await promisify(execFile)('ps', ['-o', 'rss=', '-p', String(pid)]);
  return Number(stdout.trim()) * 1024;
}

/** Samples a process' RSS every 50 ms while `work` runs; answers the peak. */
async function peakRssDuring<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = await rssOf(pid);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await rssOf(pid));
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    }
  })();
  try {
    const result = await work();
    return { result, peak };
  } finally {
    sampling = false;
    await sampler;
  }
}

const MUTATION =
  'mutation ($file: File!, $name: String!) { uploadErpFile(file: $file, name: $name, delimiter: ",") { taskId } }';

export async function run(): Promise<BenchResult> {
  const sim = await startSimulator({
    rateLimits: 'relaxed',
    maxUploadBytes: 512 * MB,
    taskDurationMs: 1_000,
  });
  const gateway = await startGatewayProcess({
    EPMWARE_URL: sim.url,
    MAX_UPLOAD_BYTES: String(300 * MB),
    UPSTREAM_TIMEOUT_MS: '120000',
    UPSTREAM_RATE_LIMIT_PER_MIN: '100000',
    LOG_LEVEL: 'error',
  });
  const pid = gateway.child.pid ?? 0;
  const token = sim.tokens.primary;
  const sha256 = expectedSha256();
  const throughGateway = (fileBytes = FILE_BYTES) =>
    send(
      gateway.url.href,
      { authorization: `Token ${token}`, 'x-graphql-yoga-csrf': '1' },
      multipart(
        [
          ['operations', JSON.stringify({ query: MUTATION, variables: { file: null, name: ERP_CONFIG } })],
          ['map', JSON.stringify({ 0: ['variables.file'] })],
        ],
        '0',
        fileBytes,
      ),
    );
  const direct = () =>
    send(
      `${sim.url}/service/api/erp/upload_file`,
      { authorization: `Token ${token}` },
      multipart(
        [
          ['name', ERP_CONFIG],
          ['delimiter_char', ','],
        ],
        'file',
      ),
    );
  const checkReceived = () => {
    const last = sim.requests({ path: '/service/api/erp/upload_file' }).at(-1);
    const file = (last?.body as RecordedMultipartBody | undefined)?.file;
    if (file?.size !== FILE_BYTES || file.sha256 !== sha256)
      throw new Error('the simulator received other bytes');
  };

  try {
    // Warm-up (JIT, connection pools) with a small file, then the gateway's resting size.
    await throughGateway(8 * MB);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const baseline = await rssOf(pid);
    const gatewaySeconds: number[] = [];
    const directSeconds: number[] = [];
    let peak = baseline;
    for (let round = 0; round < ROUNDS; round++) {
      directSeconds.push(await direct());
      checkReceived();
      const measured = await peakRssDuring(pid, throughGateway);
      gatewaySeconds.push(measured.result);
      peak = Math.max(peak, measured.peak);
      checkReceived();
    }
    const best = (values: number[]) => Math.min(...values);
    const mbPerSecond = (seconds: number) => FILE_BYTES / MB / seconds;
    const gatewayRate = mbPerSecond(best(gatewaySeconds));
    const directRate = mbPerSecond(best(directSeconds));
    const growth = (peak - baseline) / MB;
    const table = [
      '| path | 200 MB upload (best of 2) | throughput | gateway RSS growth (peak − resting) |',
      '| --- | ---: | ---: | ---: |',
      `| client → simulator (reference) | ${best(directSeconds).toFixed(2)} s | ${directRate.toFixed(0)} MB/s | — |`,
      `| client → gateway → simulator | ${best(gatewaySeconds).toFixed(2)} s | ${gatewayRate.toFixed(0)} MB/s | ${growth.toFixed(1)} MB (resting ${(baseline / MB).toFixed(0)} MB, goal < 64 MB) |`,
      `| gateway / direct | | **${(gatewayRate / directRate).toFixed(2)}×** | |`,
    ].join('\n');
    return {
      name: 'Upload: 200 MB through the gateway',
      table,
      notes:
        'Both paths upload the same generated file with a Content-Length; the simulator hashes every byte and both ' +
        'hashes match. The gateway is a separate process; its RSS is sampled every 50 ms from /proc. The client, the ' +
        'simulator and the gateway share the machine, so the ratio is what the extra hop costs on loopback.',
    };
  } finally {
    await gateway.stop();
    await sim.close();
  }
}

// `npx tsx bench/upload.ts` runs this bench alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run();
  process.stdout.write(`## ${result.name}\n\n${result.table}\n\n${result.notes ?? ''}\n`);
  process.exit(0);
}
