/**
 * Recovery: once the faults (and, in the instances soak, the churn) stop, every kind of query, for both tokens,
 * must answer with data within a deadline. Each probe retries every 200 ms; each try goes to `target()`, which in
 * the instances soak is the next instance up, as a client behind a load balancer would retry.
 */
import { type Agent, request } from 'undici';
import type { Tenant } from './tenant.ts';

export interface Probe {
  label: string;
  token: string;
  query: string;
  variables?: Record<string, unknown>;
}

export interface Recovered {
  label: string;
  /** ms from `from` to the first answer with data and no error; null when none came in time. */
  ms: number | null;
}

export function recoveryProbes(tenants: readonly Tenant[], primaryTaskId: string): Probe[] {
  const probes: Probe[] = [];
  for (const tenant of tenants) {
    const { name, token } = tenant;
    probes.push({
      label: `${name} users`,
      token,
      query: '{ users(first: 20) { nodes { userName groups { name } } } }',
    });
    probes.push({ label: `${name} groups`, token, query: '{ groups { nodes { name userCount } } }' });
    probes.push({
      label: `${name} dashboard`,
      token,
      query: 'query ($n: [String!]!) { deployments(names: $n) { latestExecution { state } } }',
      variables: { n: tenant.deploymentNames.slice(0, 3) },
    });
  }
  const primary = tenants.find((tenant) => tenant.name === 'primary');
  if (primary) {
    probes.push({
      label: 'primary task',
      token: primary.token,
      query: 'query ($id: ID!) { task(taskId: $id) { state } }',
      variables: { id: primaryTaskId },
    });
  }
  return probes;
}

/** Runs every probe until it answers with data or `withinMs` after `from` (a performance.now() value) passed. */
export function awaitRecovery(
  probes: Probe[],
  target: () => URL,
  dispatcher: Agent,
  from: number,
  withinMs: number,
): Promise<Recovered[]> {
  return Promise.all(
    probes.map(async ({ label, token, query, variables }) => {
      while (performance.now() - from < withinMs) {
        const answer = await request(target(), {
          method: 'POST',
          dispatcher,
          headers: { 'content-type': 'application/json', authorization: `Token ${token}` },
          body: JSON.stringify({ query, variables }),
          signal: AbortSignal.timeout(withinMs),
        }).then(
          async (response) => (await response.body.json()) as { data?: unknown; errors?: unknown[] },
          () => undefined,
        );
        if (answer?.data && !answer.errors) return { label, ms: Math.round(performance.now() - from) };
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      return { label, ms: null };
    }),
  );
}

export function describeRecovery(recovered: Recovered[]): string {
  return recovered
    .map((probe) => `${probe.label} ${probe.ms === null ? 'no data' : `${probe.ms} ms`}`)
    .join(', ');
}
