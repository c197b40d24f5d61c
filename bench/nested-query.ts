/**
 * The nested query `users { nodes { groups { users { groups { name } } } } }` over tenants of 10 to 10,000 users
 * with 20 ms of upstream latency: upstream requests and p50 latency, the gateway against the naive BFF
 * (bench/naive-bff.ts) on the same simulator, in the same run.
 *
 * Each tenant has N users and N/20 groups (at least 5), so a group has ~34 members whatever N is and the answer
 * grows linearly with N. The gateway pages at most 1,000 users, so N = 10,000 walks ten pages and its latency is
 * the whole walk. The naive BFF answers in one query (it has no page limit).
 */
import { startStack } from '../test/harness.ts';
import { createNaiveBff } from './naive-bff.ts';
import type { BenchResult } from './types.ts';

const SIZES = [10, 100, 1_000, 10_000];
const LATENCY_MS = 20;
/** Fewer timed runs for big tenants keep the whole bench near a minute. */
const RUNS: Record<number, number> = { 10: 5, 100: 3, 1000: 2, 10000: 1 };

const GATEWAY_QUERY = /* GraphQL */ `
  query Nested($first: Int!, $after: String) {
    users(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { groups { users { groups { name } } } }
    }
  }
`;
const NAIVE_QUERY = /* GraphQL */ `
  query Nested($first: Int!) { users(first: $first) { nodes { groups { users { groups { name } } } } } }
`;

interface Measure {
  requests: number;
  p50Ms: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

async function measure(runs: number, warmUp: boolean, once: () => Promise<number>): Promise<Measure> {
  if (warmUp) await once();
  const requests: number[] = [];
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    requests.push(await once());
    times.push(performance.now() - started);
  }
  return { requests: Math.max(...requests), p50Ms: median(times) };
}

export async function run(): Promise<BenchResult> {
  const rows: string[] = [];
  for (const users of SIZES) {
    const stack = await startStack({
      simulator: {
        users,
        groups: Math.max(5, Math.round(users / 20)),
        latencyMs: LATENCY_MS,
        rateLimits: 'relaxed',
      },
      env: { CACHE_TTL_MS: '0', UPSTREAM_RATE_LIMIT_PER_MIN: '1000000', LOG_LEVEL: 'error' },
    });
    const naive = createNaiveBff(stack.sim.url, stack.token, 16);
    const upstreamCalls = () => stack.sim.requests({ path: '/service/api/*' }).length;
    try {
      const runs = RUNS[users] ?? 1;
      const warmUp = users <= 100;
      const gateway = await measure(runs, warmUp, async () => {
        stack.sim.clearRequests();
        let after: string | null = null;
        do {
          const result: Awaited<ReturnType<typeof stack.graphql<GatewayPage>>> =
            await stack.graphql<GatewayPage>(GATEWAY_QUERY, { first: Math.min(users, 1_000), after });
          if (result.errors || !result.data) throw new Error(`gateway: ${JSON.stringify(result.errors)}`);
          const { pageInfo } = result.data.users;
          after = pageInfo.hasNextPage ? pageInfo.endCursor : null;
        } while (after);
        return upstreamCalls();
      });
      const reference = await measure(runs, warmUp, async () => {
        stack.sim.clearRequests();
        await naive.execute(NAIVE_QUERY, { first: users });
        return upstreamCalls();
      });
      rows.push(
        `| ${users.toLocaleString('en')} | ${gateway.requests} | ${reference.requests.toLocaleString('en')} | ` +
          `${Math.round(gateway.p50Ms)} ms | ${Math.round(reference.p50Ms).toLocaleString('en')} ms | ` +
          `${(reference.p50Ms / gateway.p50Ms).toFixed(1)}× | ${runs} |`,
      );
    } finally {
      await naive.close();
      await stack.close();
    }
  }
  const table = [
    '| users (N) | gateway upstream requests | naive upstream requests | gateway p50 | naive p50 | naive / gateway | timed runs |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
  return {
    name: `Nested query users → groups → users → groups (${LATENCY_MS} ms upstream latency)`,
    table,
    notes:
      'Gateway: one `GET /security/users` and one `GET /security/groups/users` per request, whatever N (N = 10,000 ' +
      'walks ten pages of 1,000, so 20 requests and the latency of the whole walk). Naive: one call per distinct ' +
      'user and group (memoised per request, 16 in flight). At EPMware’s documented 100 requests a minute, the ' +
      'naive request counts are also minutes of a credential’s budget.',
  };
}

interface GatewayPage {
  users: { pageInfo: { hasNextPage: boolean; endCursor: string | null } };
}
