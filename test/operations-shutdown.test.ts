/**
 * Graceful shutdown, as a process: SIGTERM while a task subscription (SSE) is open and a slow query is in flight.
 * The query still gets its data, the subscription is completed (not cut), and the process exits 0 within the
 * shutdown deadline.
 */
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { SimulatorFixtures } from '../src/simulator/index.ts';
import { type GatewayProcess, startGatewayProcess } from './gateway-process.ts';

let gateway: GatewayProcess | undefined;
afterAll(async () => {
  await gateway?.stop();
});

async function simControl(path: string, method: 'GET' | 'POST' = 'GET', body?: unknown): Promise<unknown> {
  const response = await request(`${gateway?.simulatorUrl}/__sim/${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  return response.body.json();
}

type Answer = {
  data?: { runDeployment?: { taskId: string; state: string }; users?: { totalCount: number } };
  errors?: unknown[];
};

async function graphql(query: string): Promise<Answer> {
  const response = await request(gateway?.url ?? '', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Token ${gateway?.demoToken}` },
    body: JSON.stringify({ query }),
  });
  return (await response.body.json()) as Answer;
}

/** An SSE subscription: resolves `firstEvent` on the first `next`, `ended` with every event once the stream ends. */
async function subscribe(query: string) {
  const response = await request(gateway?.url ?? '', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      authorization: `Token ${gateway?.demoToken}`,
    },
    body: JSON.stringify({ query }),
  });
  expect(response.statusCode).toBe(200);
  let text = '';
  let sawFirst: () => void = () => {};
  const firstEvent = new Promise<void>((resolve) => {
    sawFirst = resolve;
  });
  const ended = (async () => {
    for await (const chunk of response.body) {
      text += String(chunk);
      if (text.includes('event: next')) sawFirst();
    }
    // Events, without the `:` keep-alive comments.
    return text.split('\n\n').filter((event) => event.trim() !== '' && !event.startsWith(':'));
  })();
  return { firstEvent, ended };
}

describe('SIGTERM', () => {
  it('finishes the in-flight query, completes the subscription and exits 0', async () => {
    gateway = await startGatewayProcess({ TASK_POLL_INTERVAL_MS: '200' });
    const { fixtures } = (await simControl('info')) as { fixtures: SimulatorFixtures };
    const name = fixtures.deploymentNames.find(
      (each) => each !== fixtures.failingDeploymentName && each !== 'PROD_WEEKLY',
    );
    const run = await graphql(`mutation { runDeployment(name: "${name}") { taskId state } }`);
    expect(run.data?.runDeployment?.state).toBe('RUNNING');
    const taskId = run.data?.runDeployment?.taskId;

    const subscription = await subscribe(
      `subscription { taskUpdates(taskId: "${taskId}") { state percentCompleted } }`,
    );
    await subscription.firstEvent;

    await simControl('config', 'POST', { latencyMs: 1500 });
    await simControl('requests', 'DELETE' as 'POST');
    const slowQuery = graphql('{ users { totalCount } }');
    // In flight: EPMware has received the query's request and not answered it yet.
    for (let tries = 0; tries < 100; tries++) {
      const seen = (await simControl('requests?path=/service/api/security/users')) as Array<{
        status: number;
      }>;
      if (seen.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const signalled = Date.now();
    gateway.child.kill('SIGTERM');

    const answer = await slowQuery;
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.users?.totalCount).toBeGreaterThan(0);

    const events = await subscription.ended;
    expect(events[0]).toContain('event: next');
    expect(events.at(-1)).toMatch(/^event: complete/);

    const exit = await gateway.exited;
    expect(exit.code).toBe(0);
    // Bounded: the shutdown deadline is 10 s; generous for a loaded machine.
    expect(Date.now() - signalled).toBeLessThan(12_000);
    expect(exit.stdout).toContain('"msg":"gateway stopped"');
  });
});
