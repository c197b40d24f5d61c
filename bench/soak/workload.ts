/**
 * The soak's clients: each loops over a random mix of reads, writes, uploads, downloads and subscriptions with
 * one of the simulator's two tokens (two tenants), and records what it got (record.ts). Every request has a
 * client-side deadline (`hangMs`): one that has not answered by then is a hang.
 */
import { FormData, request } from 'undici';
import type { Simulator } from '../../src/simulator/index.ts';
import { recordFailure } from './failure.ts';
import { odataRefresh } from './odata.ts';
import type { Target, Tenant, Workload } from './tenant.ts';

export type { Target, Tenant, Workload } from './tenant.ts';

const MAX_REMEMBERED_TASKS = 20;
let markers = 0;

function pick<T>(items: readonly T[]): T | undefined {
  return items[Math.floor(Math.random() * items.length)];
}

function remember(list: string[], taskId: string): void {
  list.push(taskId);
  if (list.length > MAX_REMEMBERED_TASKS) list.shift();
}

/** One GraphQL request; null when it hung or got no answer (both recorded). */
async function graphql(
  w: Workload,
  tenant: Tenant,
  label: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<{ data?: Record<string, unknown> | null; ok: boolean } | null> {
  w.record.action(label);
  const target = w.target();
  const start = performance.now();
  try {
    const response = await request(target.url, {
      method: 'POST',
      dispatcher: w.dispatcher,
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        authorization: `Token ${tenant.token}`,
      },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(w.hangMs),
    });
    const text = await response.body.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    target.answered(response.statusCode, body);
    const ok = w.record.graphql(label, response.statusCode, body);
    return { data: (body as { data?: Record<string, unknown> | null } | undefined)?.data, ok };
  } catch (error) {
    recordFailure(w, target, label, start, error);
    return null;
  }
}

function checkUserNames(w: Workload, tenant: Tenant, label: string, names: unknown[]): void {
  for (const name of names) {
    if (typeof name === 'string' && tenant.foreignUsers.has(name.trim().toLowerCase())) {
      w.record.leak(label, `${tenant.name} saw the other tenant's user ${name}`);
      return;
    }
  }
}

type Action = (w: Workload, tenant: Tenant, other: Tenant) => Promise<void>;

const readUsers: Action = async (w, tenant) => {
  const answer = await graphql(
    w,
    tenant,
    'read users',
    '{ users(first: 40) { totalCount nodes { userName email groups { name } } } }',
  );
  const nodes = (answer?.data?.users as { nodes?: Array<{ userName: string }> } | undefined)?.nodes ?? [];
  checkUserNames(
    w,
    tenant,
    'read users',
    nodes.map((node) => node.userName),
  );
};

const readGroups: Action = async (w, tenant) => {
  const answer = await graphql(
    w,
    tenant,
    'read groups',
    '{ groups(first: 20) { totalCount nodes { name userCount users { userName } } } }',
  );
  const nodes =
    (answer?.data?.groups as { nodes?: Array<{ users: Array<{ userName: string }> }> } | undefined)?.nodes ??
    [];
  checkUserNames(
    w,
    tenant,
    'read groups',
    nodes.flatMap((node) => node.users.map((user) => user.userName)),
  );
};

const dashboard: Action = async (w, tenant) => {
  await graphql(
    w,
    tenant,
    'deployment dashboard',
    'query ($n: [String!]!) { deployments(names: $n) { name latestExecution { state startedAt } } }',
    { n: tenant.deploymentNames.slice(0, 8) },
  );
};

const readTask: Action = async (w, tenant, other) => {
  const own = pick(tenant.tasks);
  if (own)
    await graphql(w, tenant, 'read task', 'query ($id: ID!) { task(taskId: $id) { taskId state } }', {
      id: own,
    });
  // Another tenant's task id must never answer with that task.
  const foreign = pick(other.tasks);
  if (!foreign) return;
  const answer = await graphql(
    w,
    tenant,
    "read the other tenant's task",
    'query ($id: ID!) { task(taskId: $id) { taskId state } }',
    { id: foreign },
  );
  const task = answer?.data?.task as { taskId?: string } | null | undefined;
  if (task?.taskId === foreign)
    w.record.leak('task', `${tenant.name} read the other tenant's task ${foreign}`);
};

const updateUser: Action = async (w, tenant) => {
  const userName = pick(tenant.ownUsers);
  if (!userName) return;
  const marker = `soak-${process.pid}-${++markers}`;
  const answer = await graphql(
    w,
    tenant,
    'update user',
    'mutation ($u: String!, $d: String!) { updateSsoUser(userName: $u, input: { description: $d }) { userName description } }',
    { u: userName, d: marker },
  );
  // An update whose answer was lost (a dropped connection, a killed instance) must have reached EPMware at most once.
  w.record.write({ kind: 'update', marker, succeeded: answer?.ok ?? false, answeredAt: Date.now() });
};

const run: Action = async (w, tenant) => {
  const exporting = Math.random() < 0.5;
  const answer = await graphql(
    w,
    tenant,
    exporting ? 'run export' : 'run deployment',
    exporting
      ? 'mutation ($n: String!) { runExport(name: $n) { taskId } }'
      : 'mutation ($n: String!) { runDeployment(name: $n) { taskId } }',
    { n: (exporting ? pick(tenant.exportNames) : pick(tenant.deploymentNames)) ?? 'none' },
  );
  const run = (answer?.data?.runExport ?? answer?.data?.runDeployment) as { taskId?: string } | undefined;
  if (run?.taskId) {
    remember(tenant.tasks, run.taskId);
    if (exporting) remember(tenant.exportTasks, run.taskId);
  }
};

const upload: Action = async (w, tenant) => {
  w.record.action('upload');
  const marker = `soak-${process.pid}-${++markers}`;
  const form = new FormData();
  form.set(
    'operations',
    JSON.stringify({
      query:
        'mutation ($file: File!, $name: String!) { uploadErpFile(file: $file, name: $name, delimiter: ",") { taskId } }',
      variables: { file: null, name: tenant.erpConfigName },
    }),
  );
  form.set('map', JSON.stringify({ 0: ['variables.file'] }));
  form.set('0', new Blob([`account,amount\n${marker},1\n`], { type: 'text/csv' }), `${marker}.csv`);
  const target = w.target();
  const start = performance.now();
  try {
    const response = await request(target.url, {
      method: 'POST',
      dispatcher: w.dispatcher,
      headers: { 'x-graphql-yoga-csrf': '1', authorization: `Token ${tenant.token}` },
      body: form,
      signal: AbortSignal.timeout(w.hangMs),
    });
    const body: unknown = await response.body.json().catch(() => undefined);
    target.answered(response.statusCode, body);
    const ok = w.record.graphql('upload', response.statusCode, body);
    const task = (body as { data?: { uploadErpFile?: { taskId?: string } } } | undefined)?.data
      ?.uploadErpFile;
    if (task?.taskId) remember(tenant.tasks, task.taskId);
    w.record.write({ kind: 'upload', marker: `${marker}.csv`, succeeded: ok, answeredAt: Date.now() });
  } catch (error) {
    recordFailure(w, target, 'upload', start, error);
    w.record.write({ kind: 'upload', marker: `${marker}.csv`, succeeded: false, answeredAt: Date.now() });
  }
};

async function downloadOnce(
  w: Workload,
  tenant: Tenant,
  taskId: string,
  label: string,
): Promise<number | null> {
  w.record.action(label);
  const target = w.target();
  const start = performance.now();
  try {
    const response = await request(new URL(`/exports/${encodeURIComponent(taskId)}/file`, target.url), {
      dispatcher: w.dispatcher,
      headers: { authorization: `Token ${tenant.token}` },
      signal: AbortSignal.timeout(w.hangMs),
    });
    if (response.statusCode === 200) {
      await response.body.dump({ limit: Number.POSITIVE_INFINITY });
      target.answered(200);
      w.record.answers += 1;
      w.record.dataAnswers += 1;
      return 200;
    }
    w.record.answers += 1;
    const body = (await response.body.json().catch(() => undefined)) as { code?: unknown } | undefined;
    target.answered(response.statusCode, body);
    w.record.code(label, body?.code, `HTTP ${response.statusCode}`);
    return response.statusCode;
  } catch (error) {
    recordFailure(w, target, label, start, error);
    return null;
  }
}

const download: Action = async (w, tenant, other) => {
  const own = pick(tenant.exportTasks);
  if (own) await downloadOnce(w, tenant, own, 'download');
  const foreign = pick(other.exportTasks);
  if (foreign && (await downloadOnce(w, tenant, foreign, "download the other tenant's file")) === 200) {
    w.record.leak('download', `${tenant.name} downloaded the other tenant's export ${foreign}`);
  }
};

/** taskUpdates over SSE until it completes (or the subscription deadline): every event data or a code. */
const subscribe: Action = async (w, tenant) => {
  const taskId = pick(tenant.tasks);
  if (!taskId) return;
  w.record.action('subscription');
  const target = w.target();
  const start = performance.now();
  const deadline = AbortSignal.timeout(w.subscriptionMs);
  const abort = w.ending ? AbortSignal.any([deadline, w.ending]) : deadline;
  let answered = false;
  try {
    const response = await request(target.url, {
      method: 'POST',
      dispatcher: w.dispatcher,
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        authorization: `Token ${tenant.token}`,
      },
      body: JSON.stringify({
        query: 'subscription ($id: ID!) { taskUpdates(taskId: $id) { taskId state percentCompleted } }',
        variables: { id: taskId },
      }),
      signal: abort,
    });
    answered = true;
    if (!String(response.headers['content-type']).includes('text/event-stream')) {
      const body: unknown = await response.body.json().catch(() => undefined);
      target.answered(response.statusCode, body);
      w.record.graphql('subscription', response.statusCode, body);
      return;
    }
    // The stream opened: that is the instance's answer; its events are checked one by one below.
    target.answered(response.statusCode);
    let buffer = '';
    for await (const chunk of response.body) {
      buffer += chunk.toString();
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
        const data = message
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trim())
          .join('\n');
        if (message.includes('event: complete')) return;
        if (!data) continue;
        let event: unknown;
        try {
          event = JSON.parse(data);
        } catch {
          event = undefined;
        }
        w.record.graphql('subscription event', 200, event);
        const update = (event as { data?: { taskUpdates?: { taskId?: string } } } | undefined)?.data
          ?.taskUpdates;
        if (update?.taskId && update.taskId !== taskId) {
          w.record.leak('subscription', `an event for task ${update.taskId} on a subscription to ${taskId}`);
        }
      }
    }
  } catch (error) {
    // The client's run ended: it leaves its subscription, as a front end leaving the page does.
    if (w.ending?.aborted && !deadline.aborted) return;
    // A stream cut after it opened was answered: only the cut is recorded, not a second answer.
    const quiet: Target = answered
      ? { url: target.url, answered: () => {}, interrupted: () => target.interrupted() }
      : target;
    recordFailure(w, quiet, 'subscription', start, error, w.subscriptionMs);
  }
};

const ACTIONS: Array<[Action, number]> = [
  [readUsers, 6],
  [readGroups, 4],
  [dashboard, 4],
  [readTask, 3],
  [updateUser, 3],
  [run, 2],
  [upload, 1],
  [download, 2],
  [subscribe, 1],
  [odataRefresh, 2],
];
const TOTAL_WEIGHT = ACTIONS.reduce((sum, [, weight]) => sum + weight, 0);

function chooseAction(): Action {
  let roll = Math.random() * TOTAL_WEIGHT;
  for (const [action, weight] of ACTIONS) {
    roll -= weight;
    if (roll < 0) return action;
  }
  return readUsers;
}

/** One client: random actions with a short think time, until `until` (a Date.now() value). */
export async function client(workload: Workload, index: number, until: number): Promise<void> {
  const w: Workload = workload.endSubscriptions
    ? { ...workload, ending: AbortSignal.timeout(Math.max(0, until - Date.now())) }
    : workload;
  const [first, second] = w.tenants;
  const tenant = index % 2 === 0 ? first : second;
  const other = tenant === first ? second : first;
  while (Date.now() < until) {
    await chooseAction()(w, tenant, other);
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 250));
  }
}

/** What the simulator received per write marker: update descriptions and uploaded file names. */
export function receivedWrites(sim: Simulator): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (marker: unknown) => {
    if (typeof marker === 'string') counts.set(marker, (counts.get(marker) ?? 0) + 1);
  };
  for (const call of sim.requests({ method: 'PUT' }))
    add((call.body as { description?: unknown })?.description);
  for (const call of sim.requests({ method: 'POST', path: '/service/api/erp/upload_file' })) {
    add((call.body as { file?: { filename?: unknown } | null } | undefined)?.file?.filename);
  }
  return counts;
}
