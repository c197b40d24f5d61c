/**
 * Shared by the subscription tests: real graphql-sse and graphql-ws clients against the stack, a way to start an
 * upstream run directly on the simulator, and readers for the simulator's log and the gateway's gauges.
 */

import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import type { Gauge } from 'prom-client';
import { request } from 'undici';
import WebSocket from 'ws';
import type { Stack } from './harness.ts';

export const TASK_UPDATES = /* GraphQL */ `
  subscription TaskUpdates($taskId: ID!) {
    taskUpdates(taskId: $taskId) { taskId state status percentCompleted message done }
  }
`;

export interface TaskEvent {
  data?: {
    taskUpdates: { taskId: string; state: string; percentCompleted: number; message: string | null };
  } | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

/**
 * Starts a run on the simulator itself (not through the gateway) and returns its task id: `name` when given,
 * else the next succeeding deployment, export or ERP import not running yet (the simulator answers 409 for one
 * that is, and a test file needs more runs than there are deployments).
 */
export async function startRun(stack: Stack, name?: string, token = stack.token): Promise<string> {
  if (name) return submit(stack, 'deployment/run', { name }, token).then(required);
  const { fixtures } = stack.sim;
  const candidates = [
    ...fixtures.deploymentNames
      .filter((each) => each !== fixtures.failingDeploymentName)
      .map((each) => ['deployment/run', { name: each }] as const),
    ...fixtures.exportNames.map((each) => ['export/run', { name: each }] as const),
    ...fixtures.erpConfigNames
      .filter((each) => each !== fixtures.failingErpConfigName)
      .map((each) => ['erp/run', { name: each }] as const),
  ];
  for (let tried = 0; tried < candidates.length; tried++) {
    const [path, body] = candidates[nextCandidate++ % candidates.length] ?? candidates[0]!;
    const taskId = await submit(stack, path, body, token);
    if (taskId) return taskId;
  }
  throw new Error('every run is busy');
}

let nextCandidate = 0;

/** The task id, or null when the simulator says that run is already in progress. */
async function submit(stack: Stack, path: string, body: object, token: string): Promise<string | null> {
  const response = await request(`${stack.sim.url}/service/api/${path}`, {
    method: 'POST',
    headers: { authorization: `Token ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await response.body.json()) as { taskId?: string; message?: string };
  if (response.statusCode === 409) return null;
  if (response.statusCode !== 200 || !answer.taskId) {
    throw new Error(`${path} ${JSON.stringify(body)}: ${response.statusCode} ${answer.message ?? ''}`);
  }
  return answer.taskId;
}

function required(taskId: string | null): string {
  if (!taskId) throw new Error('that run is already in progress');
  return taskId;
}

export function sseClient(stack: Stack, token: string | null = stack.token) {
  return createSseClient({
    url: stack.url.href,
    headers: token ? { authorization: `Token ${token}` } : {},
    retryAttempts: 0,
  });
}

/** Every event of one subscription over SSE until the server completes it. */
export async function sseEvents(stack: Stack, taskId: string, token?: string | null): Promise<TaskEvent[]> {
  const client = sseClient(stack, token);
  const events: TaskEvent[] = [];
  try {
    for await (const event of client.iterate<TaskEvent['data']>({
      query: TASK_UPDATES,
      variables: { taskId },
    })) {
      events.push(event as TaskEvent);
    }
  } finally {
    client.dispose();
  }
  return events;
}

export function wsClient(stack: Stack, connectionParams?: Record<string, unknown>): WsClient {
  return createWsClient({
    url: stack.url.href.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: connectionParams ?? { authorization: `Token ${stack.token}` },
    retryAttempts: 0,
    lazy: true,
  });
}

export async function wsEvents(client: WsClient, taskId: string): Promise<TaskEvent[]> {
  const events: TaskEvent[] = [];
  for await (const event of client.iterate<TaskEvent['data']>({
    query: TASK_UPDATES,
    variables: { taskId },
  })) {
    events.push(event as TaskEvent);
  }
  return events;
}

export function statusCalls(stack: Stack, taskId: string): number {
  return stack.sim.requests({ method: 'GET', path: `/service/api/task/get_status/${taskId}` }).length;
}

export async function gaugeValue(gauge: Gauge): Promise<number> {
  return (await gauge.get()).values[0]?.value ?? 0;
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/**
 * After the last watcher of a task left: waits for the gauges to drop the poller, then four more intervals, and
 * reports the subscriptions still counted and the get_status calls for the task later than one interval after
 * the poller stopped (the contract: none).
 */
export async function pollsAfterLastWatcher(stack: Stack, taskId: string, intervalMs: number) {
  const { metrics } = stack.gateway.services;
  await waitFor(async () => (await gaugeValue(metrics.activePollers)) === 0, 2_000);
  const subscriptions = await gaugeValue(metrics.activeSubscriptions);
  const stoppedAt = Date.now();
  await sleep(4 * intervalMs);
  const late = stack.sim
    .requests({ path: `/service/api/task/get_status/${taskId}` })
    .filter((call) => call.at > stoppedAt + intervalMs);
  return { subscriptions, late };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The assertions every finished progress stream must pass: never backwards, terminal last, nothing after. */
export function progressOf(events: TaskEvent[]) {
  const updates = events.map((event) => event.data?.taskUpdates).filter((update) => update != null);
  return {
    states: updates.map((update) => update.state),
    percents: updates.map((update) => update.percentCompleted),
    last: updates.at(-1),
  };
}
