/**
 * The Host rule: with EPMWARE_TOKEN set, a request that brings no token of its own is answered only on localhost,
 * an IP literal or a host in ALLOWED_HOSTS, so a DNS-rebinding page (`Host: rebind.evil.example`) never borrows the
 * service token, over HTTP or a WebSocket. With ALLOWED_HOSTS set, other host names are refused, token or not.
 * The probes answer on any host. Every refusal is 403 FORBIDDEN with zero upstream calls.
 */
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.ts';
import { PRIMARY_TOKEN, SECONDARY_TOKEN } from '../src/simulator/index.ts';
import { type Stack, startStack } from './harness.ts';

const REBIND = 'rebind.evil.example';
const USERS = JSON.stringify({ query: '{ users { totalCount } }' });
const silent = { write: () => {} };

interface Answer {
  status: number;
  body: {
    data?: { users?: { totalCount: number } } | null;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
    code?: string;
    message?: string;
  };
}

/** A POST /graphql (or any path) with the Host header as given. */
async function post(stack: Stack, host: string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await request(stack.url, {
    method: 'POST',
    headers: { host, 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: USERS,
  });
  return { status: response.statusCode, body: (await response.body.json()) as Answer['body'] };
}

async function get(stack: Stack, path: string, host: string, headers: Record<string, string> = {}) {
  const response = await request(`${stack.origin}${path}`, {
    headers: { host, accept: 'application/json', ...headers },
  });
  const text = await response.body.text();
  return { status: response.statusCode, text, headers: response.headers };
}

/** What graphql-transport-ws does with this socket: acknowledged (and `{ users }` answered), closed, or refused. */
async function overWebSocket(
  stack: Stack,
  headers: Record<string, string>,
  authorization?: string,
): Promise<
  | { outcome: 'answered'; totalCount: number }
  | { outcome: 'closed'; code: number; reason: string }
  | {
      outcome: 'refused';
      status: number;
      body: string;
    }
> {
  const ws = new WebSocket(stack.url.href.replace(/^http/, 'ws'), 'graphql-transport-ws', { headers });
  return new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ outcome: 'refused', status: res.statusCode ?? 0, body }));
    });
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'connection_init', payload: authorization ? { authorization } : {} }));
    });
    ws.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as {
        type: string;
        payload?: { data?: { users: { totalCount: number } } };
      };
      if (message.type === 'connection_ack') {
        ws.send(
          JSON.stringify({ id: '1', type: 'subscribe', payload: { query: '{ users { totalCount } }' } }),
        );
      } else if (message.type === 'next') {
        resolve({ outcome: 'answered', totalCount: message.payload?.data?.users.totalCount ?? -1 });
        ws.close();
      }
    });
    ws.on('close', (code, reason) => resolve({ outcome: 'closed', code, reason: String(reason) }));
    ws.on('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

describe('EPMWARE_TOKEN set, ALLOWED_HOSTS unset', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { CACHE_TTL_MS: '0', EPMWARE_TOKEN: SECONDARY_TOKEN },
      logStream: silent,
    });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.sim.clearRequests());

  it('a rebinding Host without a token gets 403 FORBIDDEN on POST and GET /graphql, nothing sent upstream', async () => {
    const posted = await post(stack, REBIND);
    expect(posted.status).toBe(403);
    expect(posted.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(posted.body.errors?.[0]?.message).toMatch(/ALLOWED_HOSTS/);
    expect(posted.body.data).toBeUndefined();

    const query = encodeURIComponent('{ users { totalCount } }');
    const got = await get(stack, `/graphql?query=${query}`, `${REBIND}:${stack.url.port}`);
    expect(got.status).toBe(403);
    expect(JSON.parse(got.text).errors[0].extensions.code).toBe('FORBIDDEN');
    expect(stack.sim.requests()).toEqual([]);
  });

  it('the download route refuses it too (403, the routes’ {code, message}), nothing sent', async () => {
    const response = await get(stack, `/exports/${stack.sim.fixtures.exportTaskId}/file`, REBIND);
    expect(response.status).toBe(403);
    expect(JSON.parse(response.text)).toMatchObject({ code: 'FORBIDDEN' });
    expect(stack.sim.requests()).toEqual([]);
  });

  it('the same Host with a token of its own is served, with that token', async () => {
    const answer = await post(stack, REBIND, { authorization: `Token ${PRIMARY_TOKEN}` });
    expect(answer.status).toBe(200);
    expect(answer.body.data?.users?.totalCount).toBeGreaterThan(0);
    expect(stack.sim.requests().map((r) => r.token)).toEqual([PRIMARY_TOKEN]);
  });

  it('localhost and IP literals are served with the service token', async () => {
    for (const host of [`localhost:${stack.url.port}`, 'localhost', `127.0.0.1:${stack.url.port}`, '[::1]']) {
      const answer = await post(stack, host);
      expect(answer.status, host).toBe(200);
      expect(answer.body.data?.users?.totalCount, host).toBeGreaterThan(0);
    }
    expect(stack.sim.requests().map((r) => r.token)).toEqual(Array(4).fill(SECONDARY_TOKEN));
  });

  it('/healthz, /readyz and /metrics answer whatever the host', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      expect((await get(stack, path, REBIND)).status, path).toBe(200);
    }
  });

  it('a CORS preflight (never carries a token, fetches nothing) is not refused', async () => {
    const response = await request(stack.url, {
      method: 'OPTIONS',
      headers: {
        host: REBIND,
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    await response.body.dump();
    expect(response.statusCode).not.toBe(403);
  });

  it('WebSocket: no token on the rebinding Host is closed 4403, nothing sent; its own token is served', async () => {
    const refused = await overWebSocket(stack, { host: REBIND });
    expect(refused).toMatchObject({ outcome: 'closed', code: 4403 });
    expect(refused.outcome === 'closed' && refused.reason).toMatch(/ALLOWED_HOSTS/);
    expect(stack.sim.requests()).toEqual([]);

    const own = await overWebSocket(stack, { host: REBIND }, `Token ${PRIMARY_TOKEN}`);
    expect(own).toMatchObject({ outcome: 'answered' });
    const local = await overWebSocket(stack, { host: `localhost:${stack.url.port}` });
    expect(local).toMatchObject({ outcome: 'answered' });
    expect(stack.sim.requests().map((r) => r.token)).toEqual([PRIMARY_TOKEN, SECONDARY_TOKEN]);
  });
});

describe('EPMWARE_TOKEN set, ALLOWED_HOSTS=gateway.example.com', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { CACHE_TTL_MS: '0', EPMWARE_TOKEN: SECONDARY_TOKEN, ALLOWED_HOSTS: 'gateway.example.com' },
      logStream: silent,
    });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.sim.clearRequests());

  it('any other host name is refused, token or not; nothing sent upstream', async () => {
    const variants: Array<Record<string, string>> = [{}, { authorization: `Token ${PRIMARY_TOKEN}` }];
    for (const headers of variants) {
      const answer = await post(stack, REBIND, headers);
      expect(answer.status).toBe(403);
      expect(answer.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    const download = await get(stack, `/exports/${stack.sim.fixtures.exportTaskId}/file`, REBIND, {
      authorization: `Token ${PRIMARY_TOKEN}`,
    });
    expect(download.status).toBe(403);
    expect(stack.sim.requests()).toEqual([]);
  });

  it('the listed host (any port), localhost and IP literals are served with the service token', async () => {
    for (const host of ['gateway.example.com', 'GATEWAY.example.com:8443', 'localhost', '127.0.0.1']) {
      const answer = await post(stack, host);
      expect(answer.status, host).toBe(200);
    }
    expect(stack.sim.requests().map((r) => r.token)).toEqual(Array(4).fill(SECONDARY_TOKEN));
  });

  it('/healthz, /readyz and /metrics still answer on any host', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      expect((await get(stack, path, REBIND)).status, path).toBe(200);
    }
  });

  it('WebSocket: the upgrade on another host is answered 403, with a token or without; nothing sent', async () => {
    for (const authorization of [undefined, `Token ${PRIMARY_TOKEN}`]) {
      const refused = await overWebSocket(stack, { host: REBIND }, authorization);
      expect(refused).toMatchObject({ outcome: 'refused', status: 403 });
      expect(refused.outcome === 'refused' && JSON.parse(refused.body)).toMatchObject({ code: 'FORBIDDEN' });
    }
    expect(stack.sim.requests()).toEqual([]);
    expect(await overWebSocket(stack, { host: 'gateway.example.com' })).toMatchObject({
      outcome: 'answered',
    });
  });
});

describe('behind a proxy (TRUST_PROXY=true): the forwarded host is the one checked', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: {
        CACHE_TTL_MS: '0',
        EPMWARE_TOKEN: SECONDARY_TOKEN,
        TRUST_PROXY: 'true',
        ALLOWED_HOSTS: 'gateway.example.com',
      },
      logStream: silent,
    });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.sim.clearRequests());

  it('a rebinding page behind the proxy is refused; the public name is served', async () => {
    // The proxy reaches the gateway by its address (an IP Host), and forwards the page's host name.
    const viaProxy = `127.0.0.1:${stack.url.port}`;
    const rebound = await post(stack, viaProxy, { 'x-forwarded-host': REBIND });
    expect(rebound.status).toBe(403);
    const forwarded = await post(stack, viaProxy, { forwarded: `host=${REBIND};proto=https` });
    expect(forwarded.status).toBe(403);
    expect(stack.sim.requests()).toEqual([]);
    const listed = await post(stack, viaProxy, { 'x-forwarded-host': 'gateway.example.com' });
    expect(listed.status).toBe(200);
    expect(stack.sim.requests()).toHaveLength(1);
  });
});

describe('ALLOWED_HOSTS=*', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { CACHE_TTL_MS: '0', EPMWARE_TOKEN: SECONDARY_TOKEN, ALLOWED_HOSTS: '*' },
      logStream: silent,
    });
  });
  afterAll(() => stack.close());

  it('any host is served, with the service token when the request has none', async () => {
    const answer = await post(stack, REBIND);
    expect(answer.status).toBe(200);
    expect(stack.sim.requests().map((r) => r.token)).toEqual([SECONDARY_TOKEN]);
  });
});

describe('no EPMWARE_TOKEN, no ALLOWED_HOSTS: nothing to lend, nothing changes', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ logStream: silent });
  });
  afterAll(() => stack.close());

  it('any host with its own token is served; without one it is UNAUTHENTICATED as anywhere', async () => {
    expect((await post(stack, REBIND, { authorization: `Token ${stack.token}` })).status).toBe(200);
    const anonymous = await post(stack, REBIND);
    expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('ALLOWED_HOSTS as configured', () => {
  it('names and name:port, in any case, or *; anything else stops start-up naming the variable', () => {
    expect(
      loadConfig({ ALLOWED_HOSTS: 'Gateway.Example.com, api.example.com:8443,[::1]:4000' }).allowedHosts,
    ).toEqual(['gateway.example.com', 'api.example.com:8443', '[::1]:4000']);
    expect(loadConfig({ ALLOWED_HOSTS: '*' }).allowedHosts).toEqual(['*']);
    expect(loadConfig({}).allowedHosts).toBeNull();
    for (const bad of ['https://gateway.example.com', 'gateway.example.com/graphql', 'a b', 'host:99999']) {
      expect(() => loadConfig({ ALLOWED_HOSTS: bad }), bad).toThrow(/^ALLOWED_HOSTS: /);
    }
  });
});
