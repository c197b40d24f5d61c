/**
 * GraphiQL as a newcomer first sees it. With the embedded simulator it opens with the demo token in the headers and
 * three tabs: users with their groups, a deployment run, and the live progress of a task. With a real EPMWARE_URL
 * no token is ever put in the page.
 */
import type { GraphiQLOptions } from 'graphql-yoga';
import { CSRF_HEADERS } from './plugins/csrf.ts';

/**
 * Yoga's default page loads GraphiQL and its Monaco workers from a CDN, which a gateway on a closed network (or CI)
 * cannot reach: the self-hosted renderer inlines them. It is ~10 MB, so it is loaded on the first GraphiQL request,
 * not at start-up, and the page is kept for the options it was rendered with (they are the same on every request).
 */
let lastPage: { key: string; html: string } | undefined;

export async function renderSelfHostedGraphiQL(options: GraphiQLOptions): Promise<string> {
  const key = JSON.stringify(options);
  if (lastPage?.key === key) return lastPage.html;
  const { renderGraphiQL } = await import('@graphql-yoga/render-graphiql');
  lastPage = { key, html: renderGraphiQL(options) };
  return lastPage.html;
}

export const STARTER_USERS = /* GraphQL */ `# Press the run button (or Ctrl-Enter): users and
# their groups, straight from EPMware.
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

export const STARTER_RUN = /* GraphQL */ `# Starts a deployment. Then copy the taskId it returns
# into the WatchTask tab's variables and run that tab.
mutation RunDeployment {
  runDeployment(name: "ASOALL", timeoutMin: 60) {
    taskId
    state
    percentCompleted
  }
}
`;

export const STARTER_WATCH = /* GraphQL */ `# Live progress of a task over Server-Sent Events:
# one result per change, until the task ends.
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
  const base: GraphiQLOptions = {
    title: 'EPMware GraphQL gateway',
    subscriptionsProtocol: 'SSE',
    // GraphiQL subscribes over SSE with a GET, which CSRF prevention (plugins/csrf.ts) refuses without one of its
    // headers; a page can only send a custom header to its own origin, so naming it here grants no other site.
    additionalHeaders: { [CSRF_HEADERS[0] ?? 'x-graphql-yoga-csrf']: 'graphiql' },
  };
  // Against a real EPMware the starter tabs stay out: one press of run would start a production deployment.
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
