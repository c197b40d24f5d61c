/**
 * GraphiQL as a newcomer first sees it. With the embedded simulator it opens with the demo token in the headers and
 * three tabs: users with their groups, a deployment run, and the live progress of a task. With a real EPMWARE_URL
 * no token is ever put in the page.
 */
import type { GraphiQLOptions } from 'graphql-yoga';
import { CSRF_HEADERS } from '../plugins/csrf.ts';

/** Where the page's script, styles, editor workers and icon are served (routes/graphiql.ts). */
export const GRAPHIQL_ASSET_PREFIX = '/graphiql/';

/** The files the page loads; `version` in their path makes them cacheable for a year (a new version, a new path). */
export function graphiqlAssetPaths(version: string) {
  const path = (name: string) => `${GRAPHIQL_ASSET_PREFIX}${version}/${name}`;
  return {
    css: path('graphiql.css'),
    js: path('graphiql.js'),
    start: path('start.js'),
    favicon: path('favicon.ico'),
    workers: {
      editorWorkerService: path('editor.worker.js'),
      json: path('json.worker.js'),
      graphql: path('graphql.worker.js'),
    },
  };
}

/**
 * Starts GraphiQL: tells Monaco where its workers are (same-origin files, so the CSP needs no blob: workers) and
 * hands the options from the page's JSON block to Yoga's GraphiQL. A file rather than an inline script, so the CSP
 * can forbid every inline script.
 */
export const GRAPHIQL_START_SCRIPT = `(function () {
  var config = JSON.parse(document.getElementById('graphiql-config').textContent);
  self.MonacoEnvironment = {
    globalAPI: false,
    getWorkerUrl: function (moduleId, label) { return config.workers[label]; },
  };
  YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root'), config.options);
})();
`;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The page itself: a few hundred bytes plus the options. GraphiQL's 5 MB of script and its workers come as
 * separate compressed, immutable files, so a browser parses them off the main thread and caches them; Yoga's
 * self-hosted renderer put all 9 MB into one HTML document that had to be rebuilt and re-sent on every visit.
 */
export function renderGraphiQLPage(options: GraphiQLOptions, version: string): string {
  const assets = graphiqlAssetPaths(version);
  // JSON inside <script> is HTML: `<` escaped so no value (a starter query, a header) can close the element.
  const config = JSON.stringify({ options, workers: assets.workers }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${escapeHtml(options.title ?? 'GraphiQL')}</title>
    <link rel="icon" href="${assets.favicon}" />
    <link rel="stylesheet" href="${assets.css}" />
    <script src="${assets.js}" defer></script>
    <script src="${assets.start}" defer></script>
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>You need to enable JavaScript to run GraphiQL.</noscript>
    <div id="root"></div>
    <script id="graphiql-config" type="application/json">${config}</script>
  </body>
</html>
`;
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
