/**
 * @defer and @stream over HTTP: a multipart/mixed client (meros, which urql and Relay use) and an SSE client
 * (graphql-sse). The first payload carries what needs no slow history; the deferred part follows with the same
 * values and error codes as an ordinary query, and costs EPMware the same calls.
 */
import { createClient } from 'graphql-sse';
import { meros } from 'meros/browser';
import { describe, expect, it } from 'vitest';
import { stackForFile } from './harness.ts';

const stack = stackForFile({ env: { CACHE_TTL_MS: '0' } });

const HISTORY = '/service/api/deployment/get_execution_details';

interface Payload {
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; path?: unknown[]; extensions?: Record<string, unknown> }>;
  incremental?: Array<{
    data?: Record<string, unknown> | null;
    items?: unknown[];
    path: Array<string | number>;
    label?: string;
    errors?: Array<{ message: string; path?: unknown[]; extensions?: Record<string, unknown> }>;
  }>;
  hasNext?: boolean;
}

/** POSTs a document accepting multipart/mixed and returns every part as meros hands it over. */
async function multipart(query: string, variables?: Record<string, unknown>) {
  const response = await fetch(stack.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'multipart/mixed; deferSpec=20220824, application/json',
      authorization: `Token ${stack.token}`,
    },
    body: JSON.stringify({ query, variables }),
  });
  const parts = await meros<Payload>(response);
  const payloads: Array<{ payload: Payload; historyCallsSoFar: number }> = [];
  if (!(Symbol.asyncIterator in parts))
    throw new Error(`not multipart: ${response.headers.get('content-type')}`);
  for await (const part of parts) {
    if (!part.json) throw new Error('a part that is not JSON');
    payloads.push({ payload: part.body, historyCallsSoFar: stack.sim.requests({ path: HISTORY }).length });
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', payloads };
}

const DASHBOARD = `query($name: String!) {
  users(first: 3) { nodes { userName } }
  deployment(name: $name) {
    name
    ... @defer(label: "history") {
      stats { runs succeeded }
      executions { executionId }
    }
  }
}`;

describe('@defer over multipart/mixed', () => {
  it('sends users and the name first, then the deferred history with the same values', async () => {
    // The same users as an ordinary query answers them (the gateway sorts them).
    const plain = await stack.graphql<{ users: unknown }>('{ users(first: 3) { nodes { userName } } }');
    stack.sim.clearRequests();
    // A slow history: the first part must not wait for it.
    stack.sim.injectFault({ path: HISTORY, delayMs: 400 });
    const { status, contentType, payloads } = await multipart(DASHBOARD, { name: 'ASOALL' });
    expect(status).toBe(200);
    expect(contentType).toMatch(/^multipart\/mixed/);
    expect(payloads.length).toBeGreaterThanOrEqual(2);

    const [first, ...rest] = payloads;
    expect(plain.data?.users).toBeTruthy();
    expect(first?.payload).toEqual({
      data: { users: plain.data?.users, deployment: { name: 'ASOALL' } },
      hasNext: true,
    });

    const history = stack.sim.state().deploymentExecutions('ASOALL');
    const incremental = rest.flatMap(({ payload }) => payload.incremental ?? []);
    expect(incremental).toEqual([
      {
        data: {
          stats: { runs: history.length, succeeded: expect.any(Number) },
          executions: history.map((row) => ({ executionId: row.id })),
        },
        path: ['deployment'],
        label: 'history',
      },
    ]);
    expect(rest.at(-1)?.payload.hasNext).toBe(false);
    // The deferred fields cost what they cost undeferred: one history call for stats and executions together.
    expect(stack.sim.requests({ path: HISTORY })).toHaveLength(1);
    expect(stack.sim.requests({ path: '/service/api/security/users' })).toHaveLength(1);
  });

  it("carries a deferred field's error with its contract code, leaving the first payload intact", async () => {
    const { payloads } = await multipart(DASHBOARD, { name: 'NO_SUCH_DEPLOYMENT' });
    const [first, ...rest] = payloads;
    expect(first?.payload.data?.deployment).toEqual({ name: 'NO_SUCH_DEPLOYMENT' });
    expect(first?.payload.errors).toBeUndefined();
    const deferred = rest.flatMap(({ payload }) => payload.incremental ?? []);
    const errors = deferred.flatMap((part) => part.errors ?? []);
    expect(errors.map((error) => [error.path, error.extensions?.code]).sort()).toEqual([
      [['deployment', 'executions'], 'NOT_FOUND'],
      [['deployment', 'stats'], 'NOT_FOUND'],
    ]);
  });

  it('@stream sends the first item of a list at once and the rest as they resolve', async () => {
    const names = stack.sim.fixtures.deploymentNames.slice(0, 3);
    const { payloads } = await multipart(
      `query($names: [String!]!) {
        deployments(names: $names) @stream(initialCount: 1) { name latestExecution { executionId } } }`,
      { names },
    );
    const [first, ...rest] = payloads;
    const latest = (name: string) => ({
      name,
      latestExecution: { executionId: stack.sim.state().deploymentExecutions(name)[0]?.id },
    });
    expect(first?.payload.data).toEqual({ deployments: [latest(names[0] as string)] });
    expect(first?.payload.hasNext).toBe(true);
    const streamed = rest
      .flatMap(({ payload }) => payload.incremental ?? [])
      .flatMap((part) => part.items ?? []);
    expect(streamed).toEqual(names.slice(1).map(latest));
    expect(stack.sim.requests({ path: HISTORY })).toHaveLength(names.length);
  });

  it('applies the query limits to deferred fragments, before any upstream call', async () => {
    // Depth 11 inside a deferred fragment: refused like the same selection without @defer.
    const deep = `{ users { nodes { ... @defer { groups { users { groups { users { groups { users { groups {
      users { groups { name } } } } } } } } } } } } }`;
    const response = await fetch(stack.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'multipart/mixed, application/json',
        authorization: `Token ${stack.token}`,
      },
      body: JSON.stringify({ query: deep }),
    });
    const body = (await response.json()) as Payload;
    expect(response.status).toBe(400);
    expect(body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(body.errors?.[0]?.message).toMatch(/depth/i);
    expect(stack.sim.requests({ path: '/service/api/*' })).toHaveLength(0);
  });

  it('refuses @defer on a mutation root field (the spec forbids it) before any upstream call', async () => {
    const result = await stack.graphql(
      `mutation { ... @defer { runDeployment(name: "ASOALL") { taskId } } }`,
      undefined,
      { headers: { accept: 'multipart/mixed, application/json' } },
    );
    expect(result.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(stack.sim.requests({ path: '/service/api/*' })).toHaveLength(0);
  });
});

describe('@defer over SSE', () => {
  it('streams the first payload and the deferred part as separate events to a graphql-sse client', async () => {
    const client = createClient({
      url: stack.url.href,
      headers: { authorization: `Token ${stack.token}` },
      retryAttempts: 0,
    });
    try {
      const payloads: Payload[] = [];
      for await (const result of client.iterate({ query: DASHBOARD, variables: { name: 'PLANNING_DEV' } })) {
        payloads.push(result as Payload);
      }
      const history = stack.sim.state().deploymentExecutions('PLANNING_DEV');
      expect(payloads.length).toBeGreaterThanOrEqual(2);
      expect(payloads[0]?.data?.deployment).toEqual({ name: 'PLANNING_DEV' });
      expect(payloads[0]?.hasNext).toBe(true);
      const incremental = payloads.slice(1).flatMap((payload) => payload.incremental ?? []);
      expect(incremental).toHaveLength(1);
      expect(incremental[0]?.path).toEqual(['deployment']);
      expect(incremental[0]?.data?.executions).toEqual(history.map((row) => ({ executionId: row.id })));
      expect(stack.sim.requests({ path: HISTORY })).toHaveLength(1);
    } finally {
      client.dispose();
    }
  });
});

describe('@defer and the upstream-call limit (MAX_UPSTREAM_CALLS_PER_OPERATION, 50)', () => {
  const names = (count: number) => Array.from({ length: count }, (_, i) => `D${i}`);
  const deferred = `query($n: [String!]!) {
    deployments(names: $n) { name ... @defer { stats { runs } executions(state: FAILED) { executionId } } } }`;

  it('counts deferred fields like any other: 51 histories behind @defer are refused before any call', async () => {
    const response = await fetch(stack.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'multipart/mixed, application/json',
        authorization: `Token ${stack.token}`,
      },
      body: JSON.stringify({ query: deferred, variables: { n: names(51) } }),
    });
    const body = (await response.json()) as Payload;
    expect(response.status).toBe(400);
    expect(body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(body.errors?.[0]?.message).toContain('could cause 51 upstream calls');
    expect(stack.sim.requests({ path: '/service/api/*' })).toHaveLength(0);
  });

  it('lets 50 through, deferred, with one call per name for stats and the filtered executions together', async () => {
    const { payloads } = await multipart(deferred, { n: names(50) });
    expect(payloads[0]?.payload.data?.deployments).toHaveLength(50);
    const incremental = payloads.slice(1).flatMap(({ payload }) => payload.incremental ?? []);
    expect(incremental).toHaveLength(50);
    expect(stack.sim.requests({ path: HISTORY })).toHaveLength(50);
  });
});
