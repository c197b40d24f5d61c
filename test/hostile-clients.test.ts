/**
 * Issue #19, item 1: the other places client input could stop the process besides uploads. Each test does what a
 * careless or hostile client does (reset a refused WebSocket upgrade, vanish mid-subscription, walk away from a
 * download, leave EPMware's broken download half-read) many times over; no error may go unhandled (the test fails
 * on one) and the gateway must answer afterwards.
 */
import { connect } from 'node:net';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { stackForFile } from './harness.ts';
import { failOnUncaughtErrors } from './raw-upload.ts';
import { sleep, startRun, TASK_UPDATES, waitFor } from './subscription-clients.ts';

failOnUncaughtErrors();
const stack = stackForFile({
  simulator: { taskDurationMs: 2_000, exportFileBytes: 4 * 1024 * 1024 },
  env: { MAX_WEBSOCKETS: '2', TASK_POLL_INTERVAL_MS: '50', CACHE_TTL_MS: '0' },
  logStream: { write: () => {} },
});

async function stillServing(): Promise<void> {
  const answer = await stack.graphql<{ users: { totalCount: number } }>('{ users { totalCount } }');
  expect(answer.errors).toBeUndefined();
  expect(answer.data?.users.totalCount).toBeGreaterThan(0);
}

/** Sends an upgrade request for `path` and resets the connection at once (an RST, not a FIN). */
function upgradeAndReset(path: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(Number(stack.url.port), '127.0.0.1', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${stack.url.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
          'Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n',
        () => socket.resetAndDestroy(),
      );
    });
    socket.on('error', () => {});
    socket.once('close', () => resolve());
  });
}

async function openSocket(): Promise<WebSocket> {
  const ws = new WebSocket(stack.url.href.replace(/^http/, 'ws'), 'graphql-transport-ws');
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

describe('refused WebSocket upgrades, reset by the client at once', () => {
  it('to a path that is not /graphql', async () => {
    for (let round = 0; round < 10; round++)
      await Promise.all(Array.from({ length: 20 }, () => upgradeAndReset('/not-graphql')));
    await stillServing();
  });

  it('over MAX_WEBSOCKETS', async () => {
    const held = [await openSocket(), await openSocket()];
    try {
      for (let round = 0; round < 10; round++)
        await Promise.all(Array.from({ length: 20 }, () => upgradeAndReset('/graphql')));
      await stillServing();
    } finally {
      for (const ws of held) ws.terminate();
    }
  });
});

describe('subscriptions whose client vanishes', () => {
  it('WebSockets terminated while task updates flow', async () => {
    await waitFor(async () => {
      // Room again for two sockets once the gateway has seen the last test's go.
      const probe = await openSocket().catch(() => undefined);
      probe?.terminate();
      return probe !== undefined;
    });
    const taskId = await startRun(stack);
    for (let round = 0; round < 5; round++) {
      const ws = await openSocket();
      ws.send(
        JSON.stringify({ type: 'connection_init', payload: { authorization: `Token ${stack.token}` } }),
      );
      await new Promise((resolve) => ws.once('message', resolve));
      ws.send(
        JSON.stringify({
          id: '1',
          type: 'subscribe',
          payload: { query: TASK_UPDATES, variables: { taskId } },
        }),
      );
      // The first update, then (the poll interval is 50 ms) more on their way when the client vanishes.
      await new Promise((resolve) => ws.once('message', resolve));
      await sleep(60);
      ws.terminate();
    }
    await stillServing();
  });

  it('SSE requests aborted right after they are sent, and mid-stream', async () => {
    const taskId = await startRun(stack);
    for (let round = 0; round < 10; round++) {
      const abort = new AbortController();
      const response = request(stack.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          authorization: `Token ${stack.token}`,
        },
        body: JSON.stringify({ query: TASK_UPDATES, variables: { taskId } }),
        signal: abort.signal,
      });
      if (round % 2 === 0) {
        abort.abort();
        await response.catch(() => undefined);
      } else {
        const { body } = await response;
        body.on('error', () => {});
        await new Promise((resolve) => body.once('data', resolve));
        abort.abort();
      }
    }
    await stillServing();
  });
});

describe('export downloads', () => {
  async function finishedExport(): Promise<string> {
    // The runs above may still hold this export (409 while it runs): retried until it starts.
    let taskId: string | undefined;
    await waitFor(async () => {
      const run = await request(`${stack.sim.url}/service/api/export/run`, {
        method: 'POST',
        headers: { authorization: `Token ${stack.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: stack.sim.fixtures.exportNames[0] }),
      });
      taskId = ((await run.body.json()) as { taskId?: string }).taskId;
      return taskId !== undefined;
    }, 20_000);
    await waitFor(async () => {
      const answer = await stack.graphql<{ task: { state: string } }>(
        'query ($id: ID!) { task(taskId: $id) { state } }',
        { id: taskId },
      );
      return answer.data?.task.state === 'SUCCEEDED';
    }, 20_000);
    return taskId ?? '';
  }

  it('a client that walks away after the first chunk, ten times', async () => {
    const taskId = await finishedExport();
    for (let round = 0; round < 10; round++) {
      const response = await request(`${stack.origin}/exports/${taskId}/file`, {
        headers: { authorization: `Token ${stack.token}` },
      });
      expect(response.statusCode).toBe(200);
      for await (const _chunk of response.body) break;
    }
    await stillServing();
  });

  it('EPMware breaking off mid-file while the client reads slowly', async () => {
    const taskId = await finishedExport();
    stack.sim.injectFault({ path: `/service/api/export/download_file/${taskId}*`, truncate: true, times: 3 });
    for (let round = 0; round < 3; round++) {
      const response = await request(`${stack.origin}/exports/${taskId}/file`, {
        headers: { authorization: `Token ${stack.token}` },
      });
      const read = (async () => {
        for await (const _chunk of response.body) await sleep(5);
      })();
      await read.catch(() => undefined);
    }
    await stillServing();
  });
});
