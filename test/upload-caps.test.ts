/**
 * MAX_CONCURRENT_UPLOADS_PER_CREDENTIAL and MAX_CONCURRENT_UPLOADS: an upload over either cap is answered
 * RATE_LIMITED (429) before a byte of its file is read or anything reaches EPMware, and what the client still sends
 * is dropped until the connection is closed. A slot frees when its upload is answered; the per-credential state
 * never holds more entries than uploads in flight, however many credentials try.
 */
import { expect, it } from 'vitest';
import { stackForFile } from './harness.ts';
import { failOnUncaughtErrors, rawUpload, type TricklingUpload, tricklingUpload } from './raw-upload.ts';
import { waitFor } from './subscription-clients.ts';

const UPLOAD_PATH = '/service/api/erp/upload_file';
const TOKENS = ['caps-uploader-a-41c0', 'caps-uploader-b-7e22', 'caps-uploader-c-93d5'];

failOnUncaughtErrors();
const stack = stackForFile({
  simulator: { extraTokens: TOKENS },
  env: {
    MAX_CONCURRENT_UPLOADS: '3',
    MAX_CONCURRENT_UPLOADS_PER_CREDENTIAL: '2',
    UPLOAD_RATE_WINDOW_MS: '500',
  },
  logStream: { write: () => {} },
});

/** An upload that sends a little and stalls: answered at once when refused, then closed by the gateway. */
async function refusedUpload(token: string): Promise<{ code?: string; message?: string; status: number }> {
  const upload = rawUpload(stack.url, { token, name: 'ANY', declaredFileBytes: 2000 });
  upload.send(Buffer.from('id,name\n'));
  const answer = await upload.answer;
  // The client keeps its connection open and sends nothing more: the gateway closes it.
  await upload.closed;
  const error = answer.body.errors?.[0];
  return { status: answer.status, code: error?.extensions?.code, message: error?.message };
}

async function inFlight(uploads: TricklingUpload[]): Promise<void> {
  await waitFor(() => stack.sim.requests({ path: UPLOAD_PATH }).length === uploads.length, 10_000);
}

it('over the per-credential and then the instance cap an upload is RATE_LIMITED before EPMware sees it', async () => {
  let released = false;
  const [a, b, c] = TOKENS as [string, string, string];
  const uploads = [tricklingUpload(stack, a, () => released), tricklingUpload(stack, a, () => released)];
  try {
    await inFlight(uploads);
    const third = await refusedUpload(a);
    expect(third).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect(third.message).toMatch(/MAX_CONCURRENT_UPLOADS_PER_CREDENTIAL/);

    // Another credential still has room, until the instance's cap.
    uploads.push(tricklingUpload(stack, b, () => released));
    await inFlight(uploads);
    const fourth = await refusedUpload(c);
    expect(fourth).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect(fourth.message).toMatch(/MAX_CONCURRENT_UPLOADS\)/);
    expect(stack.sim.requests({ path: UPLOAD_PATH })).toHaveLength(3);
    expect(stack.gateway.services.uploads.sizes()).toEqual({ inFlight: 3, credentials: 2 });
  } finally {
    released = true;
  }
  for (const answer of await Promise.all(uploads.map((upload) => upload.result)))
    expect(answer.data?.uploadErpFile?.taskId).toBeTruthy();

  // Answered uploads free their slots: the refused credential uploads now.
  expect(stack.gateway.services.uploads.sizes()).toEqual({ inFlight: 0, credentials: 0 });
  const again = tricklingUpload(stack, c, () => true);
  expect((await again.result).data?.uploadErpFile?.taskId).toBeTruthy();
}, 30_000);

it('a flood of uploads from 200 credentials holds no more state than the cap, and all of it is freed', async () => {
  let released = false;
  const [a, b] = TOKENS as [string, string, string];
  const held = [
    tricklingUpload(stack, a, () => released),
    tricklingUpload(stack, a, () => released),
    tricklingUpload(stack, b, () => released),
  ];
  try {
    await inFlight(held);
    const flood = await Promise.all(
      Array.from({ length: 200 }, (_, i) => refusedUpload(`flood-token-${i}-${'x'.repeat(8)}`)),
    );
    expect(flood.every((answer) => answer.code === 'RATE_LIMITED')).toBe(true);
    expect(stack.gateway.services.uploads.sizes()).toEqual({ inFlight: 3, credentials: 2 });
    expect(stack.sim.requests({ path: UPLOAD_PATH })).toHaveLength(3);
  } finally {
    released = true;
  }
  await Promise.all(held.map((upload) => upload.result));
  expect(stack.gateway.services.uploads.sizes()).toEqual({ inFlight: 0, credentials: 0 });
}, 60_000);
