// ERP file upload. The multipart body is parsed as it arrives: the file is hashed and counted chunk by
// chunk and never held, so a 200 MB upload costs the simulator no more memory than a small one.
import { createHash } from 'node:crypto';
import busboy from 'busboy';
import type { RecordedMultipartBody } from './contract.ts';
import type { RequestContext } from './http.ts';
import { badRequest, sendError, sendJson } from './http.ts';
import type { UpstreamTaskSubmitted } from './types.ts';

// Room for the multipart envelope and the small text fields around the file.
const ENVELOPE_SLACK = 64 * 1024;
// How long a rejected upload may keep sending before the connection is cut (see rejectTooLarge).
const LINGER_MS = 2_000;

type UploadedFile = NonNullable<RecordedMultipartBody['file']>;

export function uploadErpFile(ctx: RequestContext): Promise<void> {
  const { req } = ctx;
  if (!/^multipart\/form-data/i.test(req.headers['content-type'] ?? '')) {
    throw badRequest('Content-Type must be multipart/form-data');
  }
  const max = ctx.sim.config.maxUploadBytes;
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max + ENVELOPE_SLACK) {
    ctx.entry.body = { fields: {}, file: null } satisfies RecordedMultipartBody;
    rejectTooLarge(ctx, max);
    return Promise.resolve();
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      limits: { fileSize: max, files: 1, fields: 32, fieldSize: 64 * 1024 },
    });
  } catch {
    throw badRequest('Malformed multipart/form-data request: missing boundary');
  }

  return new Promise((resolve) => {
    const fields: Record<string, string> = {};
    let file: UploadedFile | null = null;
    let settled = false;
    const settle = (answer: () => void): void => {
      if (settled) return;
      settled = true;
      ctx.entry.body = { fields, file } satisfies RecordedMultipartBody;
      answer();
      resolve();
    };

    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('file', (fieldName, stream, info) => {
      if (fieldName !== 'file' || file !== null) {
        stream.resume();
        return;
      }
      const hash = createHash('sha256');
      const current: UploadedFile = { fieldName, filename: info.filename ?? '', size: 0, sha256: '' };
      file = current;
      stream.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        current.size += chunk.length;
      });
      stream.on('limit', () => {
        current.sha256 = hash.digest('hex');
        req.unpipe(parser);
        parser.removeAllListeners();
        settle(() => rejectTooLarge(ctx, max));
      });
      stream.on('end', () => {
        if (!settled) current.sha256 = hash.digest('hex');
      });
    });
    parser.on('error', () => settle(() => sendError(ctx, 400, 'Malformed multipart/form-data request')));
    parser.on('close', () => settle(() => complete(ctx, fields, file)));
    // The client went away mid-upload: nobody to answer.
    ctx.res.on('close', () => settle(() => {}));
    req.pipe(parser);
  });
}

function complete(ctx: RequestContext, fields: Record<string, string>, file: UploadedFile | null): void {
  for (const field of ['name', 'delimiter_char']) {
    if (!fields[field]) {
      sendError(ctx, 400, `Missing required form field '${field}'`);
      return;
    }
  }
  if (!file) {
    sendError(ctx, 400, "Missing required form field 'file'");
    return;
  }
  const name = fields.name ?? '';
  const config = ctx.tenant.erpConfigs.get(name.toLowerCase());
  if (!config) {
    sendError(ctx, 404, `ERP Import configuration '${name}' not found`);
    return;
  }
  const task = ctx.sim.submitTask(ctx.tenant, {
    kind: 'upload',
    subject: config.name,
    description: `File '${file.filename}' (${file.size} bytes) for ERP Import '${config.name}'`,
    failure: null,
    // Staging a file is quick next to a run.
    durationMs: Math.max(1, Math.round(ctx.sim.config.taskDurationMs / 4)),
  });
  const answer: UpstreamTaskSubmitted = {
    status: 'S',
    taskId: task.taskId,
    message: 'File uploaded successfully',
  };
  sendJson(ctx, 200, answer);
}

/**
 * 413 without reading the rest of the file. Closing at once would make the kernel reset a connection that
 * still has unread data, and the client could lose the 413 with it; so, like nginx's lingering close, the
 * complete answer is sent first, what the client still sends is discarded for a moment, and only then is the
 * response ended, which closes the connection (Connection: close).
 */
function rejectTooLarge(ctx: RequestContext, max: number): void {
  const { req, res } = ctx;
  const body = JSON.stringify({
    status: 'E',
    message: `File too large: the maximum upload size is ${max} bytes`,
  });
  ctx.entry.status = 413;
  res.writeHead(413, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  });
  res.write(body);
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    res.end();
  };
  req.once('end', end);
  req.once('close', end);
  req.resume();
  ctx.sim.lifecycle.later(LINGER_MS, end);
}
