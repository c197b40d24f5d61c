/**
 * GraphiQL as a newcomer first sees it. With the embedded simulator it opens with the demo token in the headers and
 * three tabs: users with their groups, a deployment run, and the live progress of a task. With a real EPMWARE_URL
 * no token is ever put in the page.
 */
import type { GraphiQLOptions } from 'graphql-yoga';

/**
 * Yoga's default page loads GraphiQL and its Monaco workers from a CDN, which a gateway on a closed network (or CI)
 * cannot reach: the self-hosted renderer inlines them. It is ~10 MB, so it is loaded on the first GraphiQL request,
 * not at start-up.
 */
export async function renderSelfHostedGraphiQL(options: GraphiQLOptions): Promise<string> {
  const { renderGraphiQL } = await import('@graphql-yoga/render-graphiql');
  return renderGraphiQL(options);
}

export const STARTER_USERS = /* GraphQL */ `# Press the run button: users and their groups, straight from EPMware.
query UsersWithGroups {
  users(first: 10, orderBy: { field: USER_NAME, direction: ASC }) {
    totalCount
    nodes {
      userName
      firstName
      lastName
      enabled
      groups {
        name
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
`;

export const STARTER_RUN = /* GraphQL */ `# Start a deployment. Copy the taskId it returns into the WatchTask tab's variables.
mutation RunDeployment {
  runDeployment(name: "ASOALL", timeoutMin: 30) {
    taskId
    state
    percentCompleted
  }
}
`;

export const STARTER_WATCH = /* GraphQL */ `# Live progress of a task (Server-Sent Events): one event per change, until it ends.
subscription WatchTask($taskId: ID!) {
  taskUpdates(taskId: $taskId) {
    taskId
    state
    percentCompleted
    message
    done
  }
}
`;

export function graphiqlOptions(demo?: { token: string; runningTaskId?: string }): GraphiQLOptions {
  const base: GraphiQLOptions = { title: 'EPMware GraphQL gateway', subscriptionsProtocol: 'SSE' };
  if (!demo) return base;
  const headers = JSON.stringify({ Authorization: `Token ${demo.token}` }, null, 2);
  return {
    ...base,
    headers,
    defaultHeaders: headers,
    defaultEditorToolsVisibility: true,
    defaultTabs: [
      { query: STARTER_USERS, headers },
      { query: STARTER_RUN, headers },
      {
        query: STARTER_WATCH,
        headers,
        variables: JSON.stringify({ taskId: demo.runningTaskId ?? 'paste the taskId here' }, null, 2),
      },
    ],
  };
}
