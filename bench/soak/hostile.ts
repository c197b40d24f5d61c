/**
 * The hostile client (issue #19: "a client that sends the crash upload and oversized tokens all along must leave
 * every invariant holding"). All through the soak it sends what once crashed the gateway or filled its memory:
 * (i) a multipart upload with the CSRF header and no Authorization that then stalls its body (the gateway answers
 * and closes it after one pace window), or closes right after the answer; (ii) a chunked upload over
 * MAX_UPLOAD_BYTES in one write; (iii) a 20 KB token over HTTP and in a WebSocket's connection_init; (iv) a 60 KB
 * `task(taskId:)`. Each must be refused with its contract answer. Its answers are tallied here, apart from the
 * other clients' (they are refusals by design, not failures), and never counted in the availability figures.
 */
import { request } from 'undici';
import WebSocket from 'ws';
import { rawUpload } from '../../test/raw-upload.ts';
import type { Target, Workload } from './tenant.ts';

export type HostileKind =
  | 'tokenless upload, stalled'
  | 'tokenless upload, closed after the answer'
  | 'oversized chunked upload'
  | '20 KB token over HTTP'
  | '20 KB token over a WebSocket'
  | '60 KB task id';

/** What each kind must get: a GraphQL code, an HTTP status or a WebSocket close code. */
const EXPECTED: Record<HostileKind, string[]> = {
  'tokenless upload, stalled': ['UNAUTHENTICATED'],
  'tokenless upload, closed after the answer': ['UNAUTHENTICATED'],
  // The size limit fails the body while it is read, which is after the upload won its slot in the token's budget
  // (10 uploads a minute): with the budget spent, the refusal is RATE_LIMITED before the body is read at all.
  'oversized chunked upload': ['PAYLOAD_TOO_LARGE', 'RATE_LIMITED'],
  // Node refuses a head over its 16 KB limit (431) before the gateway sees the request.
  '20 KB token over HTTP': ['HTTP 431', 'UNAUTHENTICATED'],
  '20 KB token over a WebSocket': ['close 4403'],
  '60 KB task id': ['BAD_USER_INPUT'],
};

const OVERSIZED_TOKEN = `Token ${'h'.repeat(20_000)}`;
const SAMPLES = 5;

export class HostileRecord {
  readonly sent = new Map<HostileKind, number>();
  /** Per kind, the answers seen ('UNAUTHENTICATED', 'HTTP 431', 'close 4403', 'no answer: ...'). */
  readonly answers = new Map<HostileKind, Map<string, number>>();
  unexpected = 0;
  readonly unexpectedSamples: string[] = [];
  /** Requests whose instance the churn stopped meanwhile (instances soak): neither expected nor unexpected. */
  interrupted = 0;

  note(kind: HostileKind, answer: string, target: Target): void {
    this.sent.set(kind, (this.sent.get(kind) ?? 0) + 1);
    const seen = this.answers.get(kind) ?? new Map<string, number>();
    seen.set(answer, (seen.get(answer) ?? 0) + 1);
    this.answers.set(kind, seen);
    if (EXPECTED[kind].includes(answer)) return;
    if (target.interrupted()) {
      this.interrupted += 1;
      return;
    }
    this.unexpected += 1;
    if (this.unexpectedSamples.length < SAMPLES) this.unexpectedSamples.push(`${kind}: ${answer}`);
  }

  get total(): number {
    let sum = 0;
    for (const count of this.sent.values()) sum += count;
    return sum;
  }

  summary(): string {
    const kinds = [...this.answers].map(
      ([kind, seen]) => `${kind} ${JSON.stringify(Object.fromEntries(seen))}`,
    );
    return kinds.join('; ');
  }
}

export interface HostileOptions {
  /** The gateway's MAX_UPLOAD_BYTES: the oversized upload sends four times as much. */
  maxUploadBytes: number;
  /** How long the gateway may take to close a stalled upload (its pace window, plus slack). */
  stallCloseMs: number;
  erpConfigName: string;
  token: string;
}

function firstCode(body: unknown): string {
  const errors = (body as { errors?: Array<{ extensions?: { code?: unknown } }> } | undefined)?.errors;
  const code = errors?.[0]?.extensions?.code;
  return typeof code === 'string' ? code : 'no code';
}

function noAnswer(error: unknown): string {
  return `no answer: ${error instanceof Error ? error.message : String(error)}`.slice(0, 120);
}

async function tokenlessUpload(w: Workload, h: HostileRecord, options: HostileOptions, stall: boolean) {
  const target = w.target();
  const kind: HostileKind = stall ? 'tokenless upload, stalled' : 'tokenless upload, closed after the answer';
  const upload = rawUpload(target.url, {
    token: null,
    name: options.erpConfigName,
    declaredFileBytes: 2_000,
  });
  upload.send(Buffer.from('id,na'));
  const answer = await Promise.race([
    upload.answer.then((each) => firstCode(each.body), noAnswer),
    new Promise<string>((resolve) => setTimeout(() => resolve('no answer in time'), w.hangMs)),
  ]);
  if (!stall) upload.socket.destroy();
  // The gateway, not the client, ends a stalled upload: after one pace window at the latest.
  const closed = await Promise.race([
    upload.closed.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), options.stallCloseMs)),
  ]);
  upload.socket.destroy();
  h.note(kind, closed ? answer : `${answer}, then left open past ${options.stallCloseMs} ms`, target);
}

async function oversizedUpload(w: Workload, h: HostileRecord, options: HostileOptions) {
  const target = w.target();
  const upload = rawUpload(target.url, { token: options.token, name: options.erpConfigName, chunked: true });
  upload.send(Buffer.alloc(options.maxUploadBytes * 4, 97));
  upload.finish();
  const answer = await Promise.race([
    upload.answer.then((each) => firstCode(each.body), noAnswer),
    new Promise<string>((resolve) => setTimeout(() => resolve('no answer in time'), w.hangMs)),
  ]);
  upload.socket.destroy();
  h.note('oversized chunked upload', answer, target);
}

async function oversizedTokenOverHttp(w: Workload, h: HostileRecord) {
  const target = w.target();
  const answer = await request(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: OVERSIZED_TOKEN },
    body: JSON.stringify({ query: '{ users { totalCount } }' }),
    signal: AbortSignal.timeout(w.hangMs),
  }).then(async (response) => {
    const body: unknown = await response.body.json().catch(() => undefined);
    return response.statusCode === 431 ? 'HTTP 431' : firstCode(body);
  }, noAnswer);
  h.note('20 KB token over HTTP', answer, target);
}

async function oversizedTokenOverWebSocket(w: Workload, h: HostileRecord) {
  const target = w.target();
  const url = target.url.href.replace(/^http/, 'ws');
  const answer = await new Promise<string>((resolve) => {
    const socket = new WebSocket(url, 'graphql-transport-ws');
    const timer = setTimeout(() => {
      socket.terminate();
      resolve('no answer in time');
    }, w.hangMs);
    socket.on('open', () =>
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: OVERSIZED_TOKEN } })),
    );
    socket.on('message', (data) => {
      // connection_ack would mean the token was taken: it must not be.
      if (String(data).includes('connection_ack')) resolve('connection_ack');
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      resolve(noAnswer(error));
    });
    socket.on('close', (code) => {
      clearTimeout(timer);
      resolve(`close ${code}`);
    });
  });
  h.note('20 KB token over a WebSocket', answer, target);
}

async function oversizedTaskId(w: Workload, h: HostileRecord, options: HostileOptions) {
  const target = w.target();
  const answer = await request(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Token ${options.token}` },
    body: JSON.stringify({
      query: 'query ($v: ID!) { task(taskId: $v) { state } }',
      variables: { v: '7'.repeat(60_000) },
    }),
    signal: AbortSignal.timeout(w.hangMs),
  }).then(async (response) => firstCode(await response.body.json().catch(() => undefined)), noAnswer);
  h.note('60 KB task id', answer, target);
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));

/**
 * Runs until `until` (a Date.now() value) in two lanes: stalled tokenless uploads one after another (each waits for
 * the gateway to close it), and the other kinds in turn.
 */
export async function hostileClient(
  w: Workload,
  h: HostileRecord,
  options: HostileOptions,
  until: number,
): Promise<void> {
  const stalling = async () => {
    while (Date.now() < until) {
      await tokenlessUpload(w, h, options, true);
      await pause();
    }
  };
  const others = async () => {
    const kinds = [
      () => tokenlessUpload(w, h, options, false),
      () => oversizedUpload(w, h, options),
      () => oversizedTokenOverHttp(w, h),
      () => oversizedTokenOverWebSocket(w, h),
      () => oversizedTaskId(w, h, options),
    ];
    for (let turn = 0; Date.now() < until; turn++) {
      await kinds[turn % kinds.length]?.();
      await pause();
    }
  };
  await Promise.all([stalling(), others()]);
}
