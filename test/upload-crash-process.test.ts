/**
 * The crash uploads of issue #19 against the gateway as a real process (with its embedded simulator): each one
 * stopped a running gateway before ("Unhandled 'error' event ... FileStream"), and so did a WebSocket upgrade to a
 * wrong path reset by its client. Afterwards the process must still be running and answering, and its log must
 * hold no line about an uncaught error.
 */
import { connect } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type GatewayProcess, startGatewayProcess } from './gateway-process.ts';
import { rawUpload } from './raw-upload.ts';

const MAX_UPLOAD_BYTES = 4096;
let gateway: GatewayProcess;

beforeAll(async () => {
  gateway = await startGatewayProcess({
    MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
    UPLOAD_MIN_BYTES_PER_SEC: '1000',
    UPLOAD_RATE_WINDOW_MS: '200',
  });
}, 30_000);
afterAll(() => gateway?.stop());

async function usersTotal(): Promise<unknown> {
  const response = await request(gateway.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Token ${gateway.demoToken}` },
    body: JSON.stringify({ query: '{ users { totalCount } }' }),
  });
  return response.body.json();
}

it('survives every crash upload and still answers', async () => {
  const name = 'ACCOUNTS';
  // No token, then stalled: the pace check failed the file nobody read.
  const stalled = rawUpload(gateway.url, { token: null, name, declaredFileBytes: 2000 });
  stalled.send(Buffer.from('id,na'));
  expect((await stalled.answer).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  // No token, closed right after the answer: the pace check outlived the answer.
  const closing = rawUpload(gateway.url, { token: null, name, declaredFileBytes: 2000 });
  closing.send(Buffer.from('id,name\n'));
  await closing.answer;
  closing.socket.destroy();
  // Chunked and over MAX_UPLOAD_BYTES in one write: the size limit failed the file before anything read it.
  for (const token of [null, gateway.demoToken ?? null]) {
    const oversized = rawUpload(gateway.url, { token, name, chunked: true });
    oversized.send(Buffer.alloc(MAX_UPLOAD_BYTES * 4, 97));
    oversized.finish();
    await oversized.answer;
    oversized.socket.destroy();
  }
  // The stalled one is closed by the gateway after its pace window; by then every pace check above has run.
  await stalled.closed;
  // A WebSocket upgrade to another path, reset by the client at once: the refusal was written to a socket with
  // no error listener.
  await Promise.all(Array.from({ length: 20 }, () => upgradeAndReset(gateway.url)));

  expect(gateway.child.exitCode).toBeNull();
  expect(await usersTotal()).toMatchObject({ data: { users: { totalCount: expect.any(Number) } } });
  expect(gateway.stdout()).not.toMatch(/uncaught/i);
  const exit = await gateway.stop();
  expect(exit.code).toBe(0);
}, 30_000);

it.each([
  ['SIGUSR2', 'uncaughtException'],
  ['SIGHUP', 'unhandledRejection'],
] as const)(
  'an error nothing handled (%s) is logged as one JSON line without the token, and the process stops',
  async (signal, origin) => {
    const crashing = await startGatewayProcess({}, [
      '--import',
      'tsx',
      '--import',
      './test/fixtures/crash-on-signal.ts',
      'src/main.ts',
    ]);
    crashing.child.kill(signal);
    const exit = await crashing.exited;
    expect(exit.code).not.toBe(0);
    const lines = exit.stdout.split('\n').filter((line) => line.includes('uncaught error'));
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] ?? '{}') as {
      level?: string;
      origin?: string;
      error?: { stack?: string };
    };
    expect(line).toMatchObject({ level: 'fatal', origin });
    expect(line.error?.stack).toMatch(/on demand/);
    expect(exit.stdout).not.toContain('leaked-token-value');
    expect(exit.stderr).not.toContain('leaked-token-value');
  },
  30_000,
);

function upgradeAndReset(url: URL): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(
        `GET /not-graphql HTTP/1.1\r\nHost: ${url.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
        () => socket.resetAndDestroy(),
      );
    });
    socket.on('error', () => {});
    socket.once('close', () => resolve());
  });
}
