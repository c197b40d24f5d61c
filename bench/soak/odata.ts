/**
 * The soak's OData client, as a BI tool refreshing a table: Basic credentials (the token as the password), one
 * entity set, following @odata.nextLink to the end; the answers are checked like GraphQL answers (a contract code
 * on an error) and for leaks (a user only the other tenant has).
 */
import { request } from 'undici';
import { recordFailure } from './failure.ts';
import type { Tenant, Workload } from './tenant.ts';

const SETS = ['Users?$select=userName,enabled', 'Groups', 'Memberships?$top=500', 'DeploymentExecutions'];
/** A refresh follows at most this many links (the soak's tenants fit in one page; this bounds a runaway loop). */
const MAX_PAGES = 20;

function pick<T>(items: readonly T[]): T | undefined {
  return items[Math.floor(Math.random() * items.length)];
}

export async function odataRefresh(w: Workload, tenant: Tenant): Promise<void> {
  const label = 'odata refresh';
  let set = pick(SETS) ?? 'Users';
  if (set === 'DeploymentExecutions') {
    set = `DeploymentExecutions?$filter=${encodeURIComponent(`deploymentName eq '${pick(tenant.deploymentNames) ?? 'none'}'`)}`;
  }
  const authorization = `Basic ${Buffer.from(`soak:${tenant.token}`).toString('base64')}`;
  // One instance for the whole refresh: its next links name it.
  const target = w.target();
  let next: string | undefined = new URL(`/odata/${set}`, target.url).href;
  for (let page = 0; next && page < MAX_PAGES; page++) {
    w.record.action(label);
    const start = performance.now();
    try {
      const response = await request(next, {
        dispatcher: w.dispatcher,
        headers: { authorization },
        signal: AbortSignal.timeout(w.hangMs),
      });
      const body = (await response.body.json().catch(() => undefined)) as
        | { value?: Array<Record<string, unknown>>; '@odata.nextLink'?: string; error?: { code?: unknown } }
        | undefined;
      target.answered(response.statusCode, response.statusCode === 200 ? undefined : body);
      w.record.answers += 1;
      if (response.statusCode !== 200 || !body?.value) {
        w.record.code(label, body?.error?.code, `HTTP ${response.statusCode}`);
        return;
      }
      w.record.dataAnswers += 1;
      for (const row of body.value) {
        const name = typeof row.userName === 'string' ? row.userName.toLowerCase() : undefined;
        if (name && tenant.foreignUsers.has(name))
          w.record.leak('odata', `${tenant.name} read ${name} over OData`);
      }
      next = body['@odata.nextLink'];
    } catch (error) {
      recordFailure(w, target, label, start, error);
      return;
    }
  }
}
