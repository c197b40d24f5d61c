/**
 * A real front-end client, urql (@urql/core), used as its documentation shows: Relay-style pagination with
 * pageInfo.endCursor / after, an error's extensions.code through CombinedError, and a subscription over graphql-ws
 * (urql's subscriptionExchange forwarding to a graphql-ws client) with the token in the connection_init payload.
 */
import {
  Client,
  cacheExchange,
  fetchExchange,
  gql,
  type OperationResult,
  subscriptionExchange,
} from '@urql/core';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { nameKey } from '../src/directory.ts';
import { type Stack, startStack } from './harness.ts';

let stack: Stack;
const openWsClients: WsClient[] = [];

beforeAll(async () => {
  stack = await startStack({
    simulator: { taskDurationMs: 2_000 },
    env: { TASK_POLL_INTERVAL_MS: '100', CACHE_TTL_MS: '0' },
  });
});
afterEach(async () => {
  await Promise.all(openWsClients.splice(0).map((client) => client.dispose()));
});
afterAll(() => stack.close());

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

/**
 * An urql Client as a front-end app creates one, with urql's defaults (queries as GET within the URL limit): the
 * token as a header, subscriptions over graphql-ws.
 */
function urqlClient(ws: WsClient = wsClient({ authorization: `Token ${stack.token}` })): Client {
  return new Client({
    url: stack.url.href,
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? '' };
          return { subscribe: (sink) => ({ unsubscribe: ws.subscribe(input, sink) }) };
        },
      }),
    ],
    fetchOptions: () => ({ headers: { authorization: `Token ${stack.token}` } }),
    requestPolicy: 'network-only',
  });
}

const USERS_PAGE = gql`
  query UsersPage($first: Int!, $after: String) {
    users(first: $first, after: $after, orderBy: { field: USER_NAME, direction: ASC }) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        cursor
        node {
          id
          userName
        }
      }
    }
  }
`;

type UsersPage = {
  users: {
    totalCount: number;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    edges: Array<{ cursor: string; node: { id: string; userName: string } }>;
  };
};

const RUN_DEPLOYMENT = gql`
  mutation Run($name: String!) {
    runDeployment(name: $name) {
      taskId
      state
    }
  }
`;

const TASK_UPDATES = gql`
  subscription Watch($taskId: ID!) {
    taskUpdates(taskId: $taskId) {
      taskId
      state
      percentCompleted
      done
    }
  }
`;

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
        .query<UsersPage>(USERS_PAGE, { first: 7, after })
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
  });
});
