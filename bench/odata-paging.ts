/**
 * `npx tsx bench/odata-paging.ts`: all 2,500 users of the simulator read whole, as a BI tool does, through the
 * OData feed (following @odata.nextLink) and through /graphql (users(first: 1000, after) until hasNextPage is
 * false), every scalar field of User both ways; the median time of 7 runs and the upstream calls of one run, with
 * the per-credential cache off (CACHE_TTL_MS=0) and at its default.
 */
import { request } from 'undici';
import { startStack } from '../test/harness.ts';

const USERS = 2500;
const RUNS = 7;
const FIELDS = 'userName firstName lastName email userType enabled description';

async function odataWalk(origin: string, token: string): Promise<number> {
  let next: string | undefined = `${origin}/odata/Users`;
  let count = 0;
  while (next) {
    const response = await request(next, { headers: { authorization: `Token ${token}` } });
    const body = (await response.body.json()) as { value: unknown[]; '@odata.nextLink'?: string };
    count += body.value.length;
    next = body['@odata.nextLink'];
  }
  return count;
}

async function graphqlWalk(url: URL, token: string): Promise<number> {
  let after: string | null = null;
  let count = 0;
  for (;;) {
    const response = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Token ${token}` },
      body: JSON.stringify({
        query: `query ($after: String) { users(first: 1000, after: $after) { pageInfo { hasNextPage endCursor } nodes { ${FIELDS} } } }`,
        variables: { after },
      }),
    });
    const body = (await response.body.json()) as {
      data: { users: { pageInfo: { hasNextPage: boolean; endCursor: string }; nodes: unknown[] } };
    };
    count += body.data.users.nodes.length;
    if (!body.data.users.pageInfo.hasNextPage) return count;
    after = body.data.users.pageInfo.endCursor;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

for (const cache of ['0', undefined]) {
  const stack = await startStack({
    simulator: { users: USERS },
    env: cache === undefined ? {} : { CACHE_TTL_MS: cache },
  });
  try {
    for (const [name, walk] of [
      ['OData nextLink', () => odataWalk(stack.origin, stack.token)],
      ['/graphql pages', () => graphqlWalk(stack.url, stack.token)],
    ] as const) {
      await walk(); // warm-up: JIT, parse caches
      const times: number[] = [];
      let calls = 0;
      for (let i = 0; i < RUNS; i++) {
        stack.sim.clearRequests();
        const start = performance.now();
        const count = await walk();
        times.push(performance.now() - start);
        calls = stack.sim.requests({ path: '/service/api/*' }).length;
        if (count !== USERS) throw new Error(`${name} read ${count} users`);
      }
      process.stdout.write(
        `${name.padEnd(16)} CACHE_TTL_MS=${cache ?? 'default'}: median ${median(times).toFixed(1)} ms, ${calls} upstream calls (last run)\n`,
      );
    }
  } finally {
    await stack.close();
  }
}
