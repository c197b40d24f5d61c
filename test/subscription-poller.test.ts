/**
 * The TaskWatcher on its own (no GraphQL), through the gateway's real upstream client to the simulator: how long
 * it keeps trying when EPMware fails, and that it keeps tokens apart. The failure budget is a constructor option,
 * so these run in a second instead of the production 30 s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../src/errors.ts';
import { GatewayMetrics } from '../src/observability/metrics.ts';
import { type TaskUpdate, TaskWatcher } from '../src/tasks/task-watcher.ts';
import { Credential } from '../src/upstream/credential.ts';
import { type Stack, startStack } from './harness.ts';
import { gaugeValue, startRun, waitFor } from './subscription-clients.ts';

const INTERVAL_MS = 50;
const FAILURE_BUDGET_MS = 600;

let stack: Stack;
let metrics: GatewayMetrics;
let watcher: TaskWatcher;
beforeAll(async () => {
  stack = await startStack({
    env: { UPSTREAM_RATE_LIMIT_PER_MIN: '100000', CACHE_TTL_MS: '0' },
    simulator: { taskDurationMs: 60_000 },
  });
  metrics = new GatewayMetrics();
  watcher = new TaskWatcher({
    upstream: stack.gateway.services.upstream,
    metrics,
    intervalMs: INTERVAL_MS,
    failureBudgetMs: FAILURE_BUDGET_MS,
  });
});
afterAll(async () => {
  await watcher.close();
  await stack.close();
});

async function drain(stream: AsyncIterable<TaskUpdate>): Promise<TaskUpdate[]> {
  const updates: TaskUpdate[] = [];
  for await (const update of stream) updates.push(update);
  return updates;
}

describe('TaskWatcher', () => {
  it('keeps retrying through 503s, then ends with UPSTREAM_UNAVAILABLE once the failure budget is spent', async () => {
    const taskId = await startRun(stack);
    const path = `/service/api/task/get_status/${taskId}`;
    const stream = watcher.watch(new Credential(stack.token), taskId);
    const first = await stream.next();
    expect(first.value).toMatchObject({ taskId, status: expect.stringMatching(/^[PR]$/) });
    stack.sim.injectFault({ path, status: 503, message: 'EPMware is restarting' });

    const rest = await drain(stream);
    stack.sim.clearFaults();
    const last = rest.at(-1);
    expect(last).toBeInstanceOf(GatewayError);
    expect((last as GatewayError).code).toBe('UPSTREAM_UNAVAILABLE');
    // Backed off and retried (not one failure and out), and stopped polling when the stream ended.
    const failures = stack.sim.requests({ path }).filter((call) => call.status === 503);
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(await gaugeValue(metrics.activePollers)).toBe(0);
    const calls = stack.sim.requests({ path }).length;
    await new Promise((resolve) => setTimeout(resolve, 4 * INTERVAL_MS));
    expect(stack.sim.requests({ path }).length).toBe(calls);
  });

  it('a recovery inside the failure budget keeps the stream going', async () => {
    const taskId = await startRun(stack);
    const path = `/service/api/task/get_status/${taskId}`;
    const stream = watcher.watch(new Credential(stack.token), taskId);
    await stream.next();
    stack.sim.injectFault({ path, status: 503, times: 2 });
    await waitFor(() => stack.sim.requests({ path }).filter((call) => call.status === 503).length === 2);
    await waitFor(() =>
      stack.sim.requests({ path }).some((call, i, all) => i === all.length - 1 && call.status === 200),
    );
    expect(await gaugeValue(metrics.activePollers)).toBe(1);
    await stream.return();
    expect(await gaugeValue(metrics.activePollers)).toBe(0);
    expect(await gaugeValue(metrics.activeSubscriptions)).toBe(0);
  });

  it("one poller per credential and task: another token's watch polls with that token and sees NOT_FOUND", async () => {
    const taskId = await startRun(stack);
    const path = `/service/api/task/get_status/${taskId}`;
    const primary = watcher.watch(new Credential(stack.token), taskId);
    const again = watcher.watch(new Credential(stack.token), taskId);
    const secondary = watcher.watch(new Credential(stack.sim.tokens.secondary), taskId);
    const [mine, alsoMine, theirs] = await Promise.all([primary.next(), again.next(), secondary.next()]);
    expect(mine.value).toMatchObject({ taskId });
    expect(alsoMine.value).toEqual(mine.value);
    expect(theirs.value).toBeInstanceOf(GatewayError);
    expect((theirs.value as GatewayError).code).toBe('NOT_FOUND');
    expect((await secondary.next()).done).toBe(true);
    // The two primary watches share one poller; the secondary one had its own, which ended with its 404.
    expect(watcher.pollerCount).toBe(1);
    const tokens = stack.sim.requests({ path }).map((call) => call.token);
    expect(tokens.filter((token) => token === stack.sim.tokens.secondary)).toHaveLength(1);
    await Promise.all([primary.return(), again.return()]);
    expect(watcher.pollerCount).toBe(0);
    expect(await gaugeValue(metrics.activeSubscriptions)).toBe(0);
  });

  it('close() completes every stream, and later watches complete at once', async () => {
    const taskId = await startRun(stack);
    const own = new TaskWatcher({
      upstream: stack.gateway.services.upstream,
      metrics,
      intervalMs: INTERVAL_MS,
    });
    const stream = own.watch(new Credential(stack.token), taskId);
    await stream.next();
    await own.close();
    expect(await stream.next()).toEqual({ done: true, value: undefined });
    expect(await own.watch(new Credential(stack.token), taskId).next()).toEqual({
      done: true,
      value: undefined,
    });
    expect(own.pollerCount).toBe(0);
  });
});
