/**
 * The first hour over real HTTP: EPMWARE_URL works pasted with or without /service/api; downloadUrl follows the
 * proxy's Forwarded / X-Forwarded-* headers only with TRUST_PROXY=true; refusals name their fix (the CSRF headers,
 * JSON's Content-Type) and reach EPMware never.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from 'graphql-ws';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { type Stack, startStack, usersCountThrough } from './harness.ts';

const silent = { write: () => {} };

describe('EPMWARE_URL', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ rateLimits: 'relaxed' });
  });
  afterAll(() => sim.close());

  for (const suffix of ['', '/', '/service/api', '/service/api/']) {
    it(`"<base>${suffix}" reaches EPMware's endpoints under one /service/api`, async () => {
      sim.clearRequests();
      const text = await usersCountThrough(`${sim.url}${suffix}`, sim.tokens.primary);
      const body = JSON.parse(text) as { data?: { users: { totalCount: number } } };
      expect(body.data?.users.totalCount).toBe(sim.state().users().length);
      expect(sim.requests().map((entry) => entry.path)).toEqual(['/service/api/security/users']);
    });
  }

  it("an unreachable EPMWARE_URL: the first query's error names the cause, never EPMware's address", async () => {
    // A port that was free a moment ago: nothing listens there.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const token = 'a-token-that-must-stay-out-of-errors';
    const text = await usersCountThrough(`http://127.0.0.1:${port}/service/api`, token);
    const body = JSON.parse(text) as {
      errors?: Array<{ message: string; extensions?: { code?: string } }>;
    };
    expect(body.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    // The contract changed: a browser never learns EPMware's internal address (the start-up warning and the log
    // name it for the operator: firsthour-process.test.ts).
    expect(body.errors?.[0]?.message).toBe(
      'EPMware could not be reached for security/users ' +
        '(ECONNREFUSED, connection refused: nothing listens on that port)',
    );
    expect(text).not.toContain('127.0.0.1');
    expect(text).not.toContain(String(port));
    expect(text).not.toContain(token);
  });

  it('`simulator` is the embedded simulator asked for by name; a query string is refused', () => {
    expect(loadConfig({ EPMWARE_URL: 'simulator' })).toMatchObject({
      epmwareUrl: null,
      simulatorRequested: true,
    });
    expect(loadConfig({})).toMatchObject({ epmwareUrl: null, simulatorRequested: false });
    expect(() => loadConfig({ EPMWARE_URL: 'https://acme.epmwarecloud.com/?x=1' })).toThrow(/^EPMWARE_URL: /);
  });
});

describe('downloadUrl behind a proxy', () => {
  let direct: Stack;
  let proxied: Stack;
  beforeAll(async () => {
    [direct, proxied] = await Promise.all([
      startStack({ logStream: silent }),
      startStack({ env: { TRUST_PROXY: 'true' }, logStream: silent }),
    ]);
  });
  afterAll(() => Promise.all([direct?.close(), proxied?.close()]));

  type Found = { task: { taskId: string; downloadUrl: string } | null };

  async function downloadUrl(
    stack: Stack,
    headers: Record<string, string>,
  ): Promise<{ id: string; url: string }> {
    const answer = await stack.graphql<Found>(
      'query ($id: ID!) { task(taskId: $id) { taskId downloadUrl } }',
      { id: stack.sim.fixtures.exportTaskId },
      { headers },
    );
    expect(answer.errors).toBeUndefined();
    return { id: answer.data?.task?.taskId ?? '', url: answer.data?.task?.downloadUrl ?? '' };
  }

  it('TRUST_PROXY=true: X-Forwarded-Proto and X-Forwarded-Host make the link the client can follow', async () => {
    const { id, url } = await downloadUrl(proxied, {
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'gateway.example.com',
    });
    expect(url).toBe(`https://gateway.example.com/exports/${id}/file`);
  });

  it('TRUST_PROXY=true: Forwarded (RFC 7239) wins, first element, quoted values', async () => {
    const { id, url } = await downloadUrl(proxied, {
      forwarded:
        'for=192.0.2.60;proto=https;host="api.example.com:8443", for=10.0.0.1;proto=http;host=internal',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'ignored.example.com',
    });
    expect(url).toBe(`https://api.example.com:8443/exports/${id}/file`);
  });

  it('TRUST_PROXY=true: a malformed forwarded value falls back to the request', async () => {
    const { id, url } = await downloadUrl(proxied, {
      'x-forwarded-proto': 'javascript',
      'x-forwarded-host': 'x',
    });
    expect(url).toBe(`${proxied.origin}/exports/${id}/file`);
  });

  /** The same query over graphql-ws, its upgrade request carrying `headers` as a proxy in front would add them. */
  async function downloadUrlOverWebSocket(stack: Stack, headers: Record<string, string>): Promise<string> {
    class BehindProxy extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers });
      }
    }
    const client = createClient({
      url: stack.url.href.replace(/^http/, 'ws'),
      webSocketImpl: BehindProxy,
      connectionParams: { authorization: `Token ${stack.token}` },
      retryAttempts: 0,
    });
    try {
      const answers = client.iterate<Found>({
        query: 'query ($id: ID!) { task(taskId: $id) { taskId downloadUrl } }',
        variables: { id: stack.sim.fixtures.exportTaskId },
      });
      for await (const answer of answers) {
        expect(answer.errors).toBeUndefined();
        return answer.data?.task?.downloadUrl ?? '';
      }
      throw new Error('no answer over the WebSocket');
    } finally {
      await client.dispose();
    }
  }

  it('over a WebSocket too: the proxy headers with TRUST_PROXY=true, the request without it', async () => {
    const id = proxied.sim.fixtures.exportTaskId;
    const forwarded = {
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'gateway.example.com',
      // A page served by the proxy opens the socket: its origin is the public one, not the Host the gateway sees.
      origin: 'https://gateway.example.com',
    };
    expect(await downloadUrlOverWebSocket(proxied, forwarded)).toBe(
      `https://gateway.example.com/exports/${id}/file`,
    );
    const { origin: _, ...headersOnly } = forwarded;
    expect(await downloadUrlOverWebSocket(direct, headersOnly)).toBe(
      `${direct.origin}/exports/${direct.sim.fixtures.exportTaskId}/file`,
    );
    // Without TRUST_PROXY that page origin is another site's, and its socket is refused.
    await expect(downloadUrlOverWebSocket(direct, forwarded)).rejects.toThrow();
  });

  it('without TRUST_PROXY the headers are ignored: a client cannot choose where links point', async () => {
    const { id, url } = await downloadUrl(direct, {
      forwarded: 'proto=https;host=evil.example.com',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example.com',
    });
    expect(url).toBe(`${direct.origin}/exports/${id}/file`);
  });
});

describe('refusals that name the fix', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ logStream: silent });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.sim.clearRequests());

  async function send(headers: Record<string, string>, body?: string, method = 'POST') {
    const response = await request(stack.url, {
      method,
      headers: { accept: 'application/json', ...headers },
      body,
    });
    const answer = (await response.body.json()) as {
      errors?: Array<{ message: string; extensions?: { code?: string } }>;
    };
    return { status: response.statusCode, error: answer.errors?.[0] };
  }

  const JSON_BODY = JSON.stringify({ query: '{ users { totalCount } }' });

  it('CSRF: a GET without the headers is refused (403 FORBIDDEN) with the header names and the JSON way out', async () => {
    const { status, error } = await send({}, undefined, 'GET');
    expect(status).toBe(403);
    expect(error?.extensions?.code).toBe('FORBIDDEN');
    for (const header of [
      'x-graphql-yoga-csrf',
      'apollo-require-preflight',
      'x-apollo-operation-name',
      'authorization',
    ]) {
      expect(error?.message).toContain(header);
    }
    expect(error?.message).toContain('Content-Type: application/json');
    // One of the named headers is enough.
    const allowed = await request(`${stack.url.href}?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { 'x-graphql-yoga-csrf': '1', accept: 'application/json' },
    });
    expect(allowed.statusCode).toBe(200);
    await allowed.body.dump();
    expect(stack.sim.requests()).toHaveLength(0);
  });

  it('JSON sent as a form (curl -d without -H): 400 naming Content-Type: application/json', async () => {
    const { status, error } = await send(
      { authorization: `Token ${stack.token}`, 'content-type': 'application/x-www-form-urlencoded' },
      JSON_BODY,
    );
    expect(status).toBe(400);
    expect(error?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    expect(error?.message).toContain("Content-Type 'application/x-www-form-urlencoded'");
    expect(error?.message).toContain("-H 'content-type: application/json'");
    expect(stack.sim.requests()).toHaveLength(0);
  });

  it('a form that does carry a query still works', async () => {
    const response = await request(stack.url, {
      method: 'POST',
      headers: {
        authorization: `Token ${stack.token}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({ query: '{ users { totalCount } }' }).toString(),
    });
    const answer = (await response.body.json()) as { data?: { users: { totalCount: number } } };
    expect(answer.data?.users.totalCount).toBe(stack.sim.state().users().length);
  });

  it('a body of a type GraphQL does not read (text/plain): 415 naming the fix, not an empty answer', async () => {
    const { status, error } = await send(
      { authorization: `Token ${stack.token}`, 'content-type': 'text/plain' },
      JSON_BODY,
    );
    expect(status).toBe(415);
    expect(error?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    expect(error?.message).toContain("Content-Type 'text/plain'");
    expect(error?.message).toContain('application/json');
    expect(stack.sim.requests()).toHaveLength(0);
  });
});
