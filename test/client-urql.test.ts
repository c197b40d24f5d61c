/**
 * A real front-end client, urql (@urql/core), used as its documentation shows, running from the trusted-documents
 * manifest `npm run documents` builds (examples/operations/), against a gateway in only-persisted mode: queries and
 * mutations go by id through @urql/exchange-persisted (APQ's sha256Hash, no document text), the subscription's text
 * is a manifest document. Covered: Relay-style pagination with pageInfo.endCursor / after, an error's
 * extensions.code through CombinedError, a subscription over graphql-ws (urql's subscriptionExchange forwarding to a
 * graphql-ws client) with the token in the connection_init payload, and a document outside the manifest refused.
 */
import {
  Client,
  cacheExchange,
  fetchExchange,
  gql,
  type OperationResult,
  subscriptionExchange,
} from '@urql/core';
import { persistedExchange } from '@urql/exchange-persisted';
import { type DocumentNode, getOperationAST } from 'graphql';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { nameKey } from '../src/directory.ts';
import { type Stack, startStack } from './harness.ts';
import { writeManifestFile } from './persisted-fixture.ts';

let stack: Stack;
const openWsClients: WsClient[] = [];
const manifest = writeManifestFile();
/** What urql sent over HTTP, to show that it sent ids and no document text. */
const sent: Array<{ method: string; url: string; body: string | null }> = [];

beforeAll(async () => {
  stack = await startStack({
    simulator: { taskDurationMs: 2_000 },
    env: {
      TASK_POLL_INTERVAL_MS: '100',
      CACHE_TTL_MS: '0',
      PERSISTED_DOCUMENTS: manifest.path,
      PERSISTED_DOCUMENTS_ONLY: 'true',
    },
  });
});
afterEach(async () => {
  await Promise.all(openWsClients.splice(0).map((client) => client.dispose()));
  sent.length = 0;
});
afterAll(async () => {
  await stack.close();
  manifest.remove();
});

/** graphql-ws as urql's docs set it up; the token travels in connection_init, as the contract says. */
function wsClient(connectionParams?: Record<string, unknown>): WsClient {
  const client = createWsClient({
    url: stack.url.href.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
  });
  openWsClients.push(client);
  return client;
}

/** The manifest id of a document, by its operation name ('' for a document the manifest does not have). */
async function manifestId(_query: string, document: DocumentNode): Promise<string> {
  const name = getOperationAST(document)?.name?.value;
  try {
    return name ? manifest.idOf(name) : '';
  } catch {
    return '';
  }
}

/**
 * An urql Client as a front-end app with a persisted-documents build creates one: urql's defaults (queries as GET
 * within the URL limit), ids instead of documents for queries and mutations, the token as a header, subscriptions
 * over graphql-ws.
 */
function urqlClient(ws: WsClient = wsClient({ authorization: `Token ${stack.token}` })): Client {
  return new Client({
    url: stack.url.href,
    exchanges: [
      cacheExchange,
      persistedExchange({ enforcePersistedQueries: true, enableForMutation: true, generateHash: manifestId }),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? '' };
          return { subscribe: (sink) => ({ unsubscribe: ws.subscribe(input, sink) }) };
        },
      }),
    ],
    fetchOptions: () => ({ headers: { authorization: `Token ${stack.token}` } }),
    fetch: (input, init) => {
      sent.push({ method: init?.method ?? 'GET', url: String(input), body: (init?.body as string) ?? null });
      return fetch(input, init);
    },
    requestPolicy: 'network-only',
  });
}

/** Every HTTP request urql made named a manifest document by its hash and carried no document text. */
function expectOnlyIdsSent(): void {
  expect(sent.length).toBeGreaterThan(0);
  for (const request of sent) {
    const url = new URL(request.url);
    const params = request.body
      ? (JSON.parse(request.body) as { query?: string; extensions?: Record<string, unknown> })
      : {
          query: url.searchParams.get('query') ?? undefined,
          extensions: JSON.parse(url.searchParams.get('extensions') ?? '{}') as Record<string, unknown>,
        };
    expect(params.query).toBeUndefined();
    const hash = (params.extensions?.persistedQuery as { sha256Hash?: string } | undefined)?.sha256Hash;
    expect(Object.keys(manifest.manifest)).toContain(hash);
  }
}

const USERS_PAGE = gql(manifest.textOf('UserAdminPage'));
const BY_USER_NAME = { field: 'USER_NAME', direction: 'ASC' };

type UsersPage = {
  users: {
    totalCount: number;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    edges: Array<{ cursor: string; node: { id: string; userName: string } }>;
  };
};

const RUN_DEPLOYMENT = gql(manifest.textOf('StartDeployment'));

const TASK_UPDATES = gql(manifest.textOf('DeploymentProgress'));

type TaskUpdate = { taskId: string; state: string; percentCompleted: number; done: boolean };

describe('urql against the gateway', () => {
  it('walks every page of users with pageInfo.endCursor and after', async () => {
    const client = urqlClient();
    const expected = stack.sim
      .state()
      .users()
      .map((user) => user.userName)
      .sort((a, b) => (nameKey(a) < nameKey(b) ? -1 : 1));
    stack.sim.clearRequests();

    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const result: OperationResult<UsersPage> = await client
        .query<UsersPage>(USERS_PAGE, { first: 7, after, orderBy: BY_USER_NAME })
        .toPromise();
      expect(result.error).toBeUndefined();
      const users: UsersPage['users'] | undefined = result.data?.users;
      if (!users) throw new Error('no users page');
      pages++;
      expect(users.totalCount).toBe(expected.length);
      expect(users.edges.length).toBeLessThanOrEqual(7);
      seen.push(...users.edges.map((edge) => edge.node.userName));
      expect(users.pageInfo.endCursor).toBe(users.edges.at(-1)?.cursor ?? null);
      if (!users.pageInfo.hasNextPage) break;
      after = users.pageInfo.endCursor;
      expect(pages).toBeLessThan(100);
    }
    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 7));
    // Each page read the users list once upstream, with the client's token.
    const listCalls = stack.sim.requests({ method: 'GET', path: '/service/api/security/users' });
    expect(listCalls).toHaveLength(pages);
    expect(listCalls.every((call) => call.token === stack.token)).toBe(true);
    // urql's default for queries: GET, here with only the document's hash.
    expect(sent.every((request) => request.method === 'GET')).toBe(true);
    expectOnlyIdsSent();
  });

  it("surfaces a mutation's error code as CombinedError.graphQLErrors[0].extensions.code", async () => {
    const client = urqlClient();
    stack.sim.clearRequests();
    const result = await client.mutation(RUN_DEPLOYMENT, { name: 'NO_SUCH_DEPLOYMENT' }).toPromise();
    expect(result.data?.runDeployment ?? null).toBeNull();
    expect(result.error?.networkError).toBeUndefined();
    expect(result.error?.graphQLErrors[0]?.extensions.code).toBe('NOT_FOUND');
    expect(result.error?.graphQLErrors[0]?.path).toEqual(['runDeployment']);
    expect(result.error?.message).toContain('NO_SUCH_DEPLOYMENT');
    // EPMware was asked and said 404: the code is the upstream's answer, not a guess.
    const runs = stack.sim.requests({ method: 'POST', path: '/service/api/deployment/run' });
    expect(runs.map((run) => [run.body, run.status])).toEqual([
      [expect.objectContaining({ name: 'NO_SUCH_DEPLOYMENT' }), 404],
    ]);

    // An invalid argument is refused before any upstream call, with its own code.
    stack.sim.clearRequests();
    const tooMany = await client.query(USERS_PAGE, { first: 5000 }).toPromise();
    expect(tooMany.error?.graphQLErrors[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(stack.sim.requests()).toHaveLength(0);
    expectOnlyIdsSent();
  });

  it('runs a deployment and follows its progress over graphql-ws until it is done', async () => {
    const client = urqlClient();
    const name = stack.sim.fixtures.deploymentNames.find(
      (each) => each !== stack.sim.fixtures.failingDeploymentName && each !== 'PROD_WEEKLY',
    );
    const started = await client
      .mutation<{ runDeployment: { taskId: string } }>(RUN_DEPLOYMENT, { name })
      .toPromise();
    expect(started.error).toBeUndefined();
    const taskId = started.data?.runDeployment.taskId ?? '';
    expect(stack.sim.state().task(taskId)).toBeDefined();

    const updates = await new Promise<TaskUpdate[]>((resolve, reject) => {
      const received: TaskUpdate[] = [];
      const timer = setTimeout(
        () => reject(new Error(`no terminal state: ${JSON.stringify(received)}`)),
        20_000,
      );
      const { unsubscribe } = client
        .subscription<{ taskUpdates: TaskUpdate }>(TASK_UPDATES, { taskId })
        .subscribe((result) => {
          if (result.error) {
            clearTimeout(timer);
            reject(result.error);
            return;
          }
          const update = result.data?.taskUpdates;
          if (!update) return;
          received.push(update);
          if (update.done) {
            clearTimeout(timer);
            unsubscribe();
            resolve(received);
          }
        });
    });

    expect(updates.length).toBeGreaterThanOrEqual(2);
    expect(updates.every((update) => update.taskId === taskId)).toBe(true);
    const percents = updates.map((update) => update.percentCompleted);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(updates.at(-1)).toMatchObject({ state: 'SUCCEEDED', percentCompleted: 100, done: true });
    // No EPMWARE_TOKEN is configured: the polls upstream carried the token from connection_init.
    const polls = stack.sim.requests({ method: 'GET', path: `/service/api/task/get_status/${taskId}` });
    expect(polls.length).toBeGreaterThanOrEqual(2);
    expect(polls.every((poll) => poll.token === stack.token)).toBe(true);
  });

  it('a WebSocket without the authorization payload is closed with 4403 and reaches no upstream', async () => {
    const client = urqlClient(wsClient());
    stack.sim.clearRequests();
    const result = await client
      .subscription(TASK_UPDATES, { taskId: stack.sim.fixtures.succeededTaskId })
      .toPromise();
    expect(result.data).toBeUndefined();
    // graphql-ws hands urql the socket's CloseEvent as the network error.
    expect(result.error?.networkError).toMatchObject({
      code: 4403,
      reason: expect.stringContaining("connectionParams: { authorization: 'Token <t>' }"),
    });
    expect(stack.sim.requests()).toHaveLength(0);
  });

  // urql sends a query as a GET carrying only the Authorization header. CSRF prevention accepts it because a browser
  // always preflights a request with Authorization (plugins/csrf.ts).
  it('urql with its default GET for queries and only the Authorization header', async () => {
    const client = urqlClient();
    const result = await client.query<UsersPage>(USERS_PAGE, { first: 3 }).toPromise();
    expect(result.error?.graphQLErrors[0]?.extensions.code).toBeUndefined();
    expect(result.data?.users.edges).toHaveLength(3);
    expect(sent.map((request) => request.method)).toEqual(['GET']);
    expectOnlyIdsSent();
  });

  it('a document outside the manifest is refused with PERSISTED_QUERY_REQUIRED before any upstream call', async () => {
    const client = urqlClient();
    stack.sim.clearRequests();
    // No id for it, so urql sends its text, which only-persisted mode refuses.
    const result = await client.query(gql`query Adhoc { users { totalCount } }`, {}).toPromise();
    expect(result.data ?? null).toBeNull();
    expect(result.error?.graphQLErrors[0]?.extensions.code).toBe('PERSISTED_QUERY_REQUIRED');
    expect(stack.sim.requests()).toHaveLength(0);
  });
});
