/**
 * The circuit breakers: one per EPMware service, opened only on evidence that the service is down (connection
 * failures, response timeouts, 502/503/504 from several distinct calls), never by a resource that 500s, 4xx, a
 * request refused before it was sent or a caller's abort; half-open lets exactly one probe through.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import type { GatewayError } from '../src/errors.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startSimulator } from '../src/simulator/index.ts';
import { Credential } from '../src/upstream/credential.ts';
import { Epmware } from '../src/upstream/epmware.ts';
import { transportOutcome } from '../src/upstream/failures.ts';
import { type Stack, startStack } from './harness.ts';

const TASK_QUERY = 'query ($id: ID!) { task(taskId: $id) { taskId state } }';
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as GatewayError,
  );

describe('what does not open a circuit', () => {
  let stack: Stack;
  let api: Epmware;
  beforeAll(async () => {
    stack = await startStack({
      env: { CACHE_TTL_MS: '0', UPSTREAM_TIMEOUT_MS: '5000' },
      upstream: { breaker: { minimumFailures: 3, cooldownMs: 60_000 } },
      logStream: { write: () => {} },
    });
    api = new Epmware(stack.gateway.services.upstream, new Credential(stack.token));
  });
  afterAll(() => stack.close());
  afterEach(() => {
    stack.sim.clearFaults();
    stack.sim.clearRequests();
  });

  it('a task whose status answers 500 forever, alone and beside healthy ones: every call still goes upstream', async () => {
    const broken = stack.sim.fixtures.failedTaskId;
    const healthy = stack.sim.fixtures.succeededTaskId;
    const brokenPath = `/service/api/task/get_status/${broken}`;
    stack.sim.injectFault({ path: brokenPath, status: 500, message: 'ORA-01403: no data found' });

    for (let i = 0; i < 8; i++) {
      const answer = await stack.graphql(TASK_QUERY, { id: broken });
      expect(answer.errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
    }
    for (let i = 0; i < 8; i++) {
      const [bad, good] = await Promise.all([
        stack.graphql(TASK_QUERY, { id: broken }),
        stack.graphql<{ task: { state: string } }>(TASK_QUERY, { id: healthy }),
      ]);
      expect(bad.errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
      expect(good.errors).toBeUndefined();
      expect(good.data?.task.state).toBe('SUCCEEDED');
    }
    // 16 broken calls, each sent (a 500 is not retried), none refused by an open circuit.
    expect(stack.sim.requests({ path: brokenPath })).toHaveLength(16);
    expect(stack.gateway.services.upstream.openCircuits()).toEqual([]);
    const users = await stack.graphql<{ users: { totalCount: number } }>('{ users { totalCount } }');
    expect(users.data?.users.totalCount).toBe(stack.sim.state().users().length);
  });

  it('4xx answers: a run of 404s leaves the circuit closed', async () => {
    for (let i = 0; i < 6; i++) {
      expect((await failure(api.taskStatus('no-such-task')))?.code).toBe('NOT_FOUND');
    }
    expect(stack.sim.requests({ path: '/service/api/task/get_status/*' })).toHaveLength(6);
    expect(stack.gateway.services.upstream.openCircuits()).toEqual([]);
  });

  it('a token undici refuses to send (a control character) is no evidence: nothing sent, nothing opened', async () => {
    const broken = new Epmware(stack.gateway.services.upstream, new Credential('bad\u0001token'));
    for (let i = 0; i < 6; i++) expect(await failure(broken.listUsers())).toBeDefined();
    expect(stack.sim.requests()).toHaveLength(0);
    expect(stack.gateway.services.upstream.openCircuits()).toEqual([]);
  });

  it('callers that give up while EPMware is working are no evidence, however many', async () => {
    const downloads = '/service/api/export/download_file/*';
    stack.sim.injectFault({ path: downloads, delayMs: 5_000 });
    const callers = Array.from({ length: 6 }, () => new AbortController());
    const pending = callers.map((caller) =>
      failure(api.downloadExportFile(stack.sim.fixtures.exportTaskId, caller.signal)),
    );
    while (stack.sim.requests({ path: downloads }).length < callers.length) await wait(10);
    for (const caller of callers) caller.abort();
    for (const outcome of await Promise.all(pending)) expect(outcome).toBeDefined();
    expect(stack.gateway.services.upstream.openCircuits()).toEqual([]);
  });
});

describe('503 from one service', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { CACHE_TTL_MS: '0', UPSTREAM_TIMEOUT_MS: '5000' },
      upstream: { breaker: { minimumFailures: 3, cooldownMs: 60_000 } },
      logStream: { write: () => {} },
    });
  });
  afterAll(() => stack.close());

  it('opens that service only: its calls fail fast, every other service keeps answering', async () => {
    stack.sim.setServiceDown('deployment', true);
    const name = stack.sim.fixtures.deploymentNames[0];
    const query = 'query ($name: String!) { deployment(name: $name) { executions { state } } }';
    // Three distinct calls (identical reads in flight would coalesce into one, and count once), from two tenants:
    // one credential's failures alone are no evidence (security-breaker-evidence.test.ts).
    const tokens = [stack.token, stack.sim.tokens.secondary, stack.token];
    const first = await Promise.all(
      [1, 2, 3].map((i) => stack.graphql(query, { name: `${name}-${i}` }, { token: tokens[i - 1] })),
    );
    for (const answer of first) expect(answer.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(stack.gateway.services.upstream.openCircuits()).toEqual(['deployment']);

    const sent = stack.sim.requests({ path: '/service/api/deployment/*' }).length;
    const refused = await stack.graphql(query, { name });
    expect(refused.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(refused.errors?.[0]?.message).toMatch(/deployment service/);
    expect(stack.sim.requests({ path: '/service/api/deployment/*' })).toHaveLength(sent);

    const users = await stack.graphql<{ users: { totalCount: number } }>('{ users { totalCount } }');
    expect(users.errors).toBeUndefined();
    expect(users.data?.users.totalCount).toBe(stack.sim.state().users().length);
    const task = await stack.graphql<{ task: { state: string } }>(TASK_QUERY, {
      id: stack.sim.fixtures.succeededTaskId,
    });
    expect(task.data?.task.state).toBe('SUCCEEDED');
    expect(stack.gateway.services.upstream.openCircuits()).toEqual(['deployment']);
  });
});

describe('EPMware not answering within UPSTREAM_TIMEOUT_MS', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { CACHE_TTL_MS: '0', UPSTREAM_TIMEOUT_MS: '400' },
      upstream: { breaker: { minimumFailures: 3, cooldownMs: 60_000 } },
      logStream: { write: () => {} },
    });
  });
  afterAll(() => stack.close());

  it('response timeouts of distinct calls are evidence: that service opens', async () => {
    stack.sim.injectFault({ path: '/service/api/export/get_execution_details', delayMs: 3_000 });
    // Two tenants' calls: one credential's failures alone are no evidence (security-breaker-evidence.test.ts).
    const apis = [stack.token, stack.sim.tokens.secondary].map(
      (token) => new Epmware(stack.gateway.services.upstream, new Credential(token)),
    );
    const outcomes = await Promise.all(
      [1, 2, 3].map((i) => failure((apis[i % 2] as Epmware).exportExecutions(`E${i}`, true))),
    );
    for (const outcome of outcomes) expect(outcome?.code).toBe('UPSTREAM_TIMEOUT');
    expect(stack.gateway.services.upstream.openCircuits()).toEqual(['export']);
  });
});

describe('EPMware refusing connections for everything', () => {
  const COOLDOWN_MS = 1_000;
  let gateway: Gateway;
  let port: number;
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let token: string;
  beforeAll(async () => {
    sim = await startSimulator({ rateLimits: 'relaxed' });
    port = Number(new URL(sim.url).port);
    token = sim.tokens.primary;
    gateway = createGateway(
      {
        ...loadConfig({ LOG_LEVEL: 'error', CACHE_TTL_MS: '0', UPSTREAM_RATE_LIMIT_PER_MIN: '1000000' }),
        epmwareUrl: new URL(sim.url),
      },
      {
        upstream: { breaker: { minimumFailures: 3, cooldownMs: COOLDOWN_MS } },
        logStream: { write: () => {} },
      },
    );
    await gateway.listen(0, '127.0.0.1');
    await sim.close();
  });
  afterAll(async () => {
    await gateway.close();
    await sim.close();
  });

  it('opens every circuit, then recovers through exactly one probe per service', async () => {
    const api = new Epmware(gateway.services.upstream, new Credential(token));
    // Three distinct calls per service (identical reads in flight would coalesce into one), from two tenants: one
    // credential asking for one path is no evidence alone (security-breaker-evidence.test.ts).
    const other = new Epmware(gateway.services.upstream, new Credential(sim.tokens.secondary));
    const by = (i: number) => (i % 2 === 0 ? api : other);
    const calls = [
      (i: number) => by(i).groupMembers(`G${i}`),
      (i: number) => by(i).taskStatus(String(i)),
      (i: number) => by(i).deploymentExecutions(`D${i}`, true),
      (i: number) => by(i).exportExecutions(`E${i}`, true),
      (i: number) => by(i).runErpImport(`R${i}`),
    ];
    const outcomes = await Promise.all(calls.flatMap((call) => [1, 2, 3].map((i) => failure(call(i)))));
    for (const outcome of outcomes) expect(outcome?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(gateway.services.upstream.openCircuits()).toEqual([
      'task',
      'erp',
      'deployment',
      'export',
      'security',
    ]);

    // EPMware comes back on the same address; after the cool-down one probe per service may go.
    sim = await startSimulator({ rateLimits: 'relaxed', port });
    await wait(COOLDOWN_MS + 100);
    sim.injectFault({ path: '/service/api/security/*', delayMs: 200, times: 1 });
    const [probe, ...others] = await Promise.allSettled([
      api.listUsers(),
      api.listGroups(),
      api.groupMembers(),
    ]);
    expect(probe?.status).toBe('fulfilled');
    for (const other of others) {
      expect(other.status === 'rejected' && (other.reason as GatewayError).code).toBe('UPSTREAM_UNAVAILABLE');
    }
    expect(sim.requests()).toHaveLength(1);
    expect(gateway.services.upstream.openCircuits()).toEqual(['task', 'erp', 'deployment', 'export']);
    // Closed again: security flows; the other services still wait for their own probe.
    expect((await api.listGroups()).length).toBeGreaterThan(0);
    expect(sim.requests()).toHaveLength(2);
  });
});

describe('which transport failures are evidence', () => {
  const timing = { waitedMs: 0, evidenceMs: 1_000, bodyPending: false };
  const timeout = new DOMException('The upstream deadline passed', 'TimeoutError');
  it('connection failures are; errors raised before sending are not', () => {
    for (const code of [
      'ECONNREFUSED',
      'ECONNRESET',
      'ENOTFOUND',
      'UND_ERR_SOCKET',
      'UND_ERR_CONNECT_TIMEOUT',
    ])
      expect(transportOutcome(Object.assign(new Error(code), { code }), timing)).toBe('outage');
    for (const code of ['UND_ERR_INVALID_ARG', 'UND_ERR_ABORTED', undefined])
      expect(transportOutcome(Object.assign(new Error('x'), { code }), timing)).toBe('no-verdict');
  });
  it('a timeout is only after a fair wait for an answer, with the body sent', () => {
    expect(transportOutcome(timeout, { ...timing, waitedMs: 1_000 })).toBe('outage');
    // The budget granted a slot with ~0 ms left: the clock ran out, EPMware was hardly asked.
    expect(transportOutcome(timeout, { ...timing, waitedMs: 3 })).toBe('no-verdict');
    // An upload still being sent: the stall may be the client's.
    expect(transportOutcome(timeout, { ...timing, waitedMs: 5_000, bodyPending: true })).toBe('no-verdict');
  });
});
