/**
 * Every $filter operator the contract lists, each checked against the answer computed from the simulator's own
 * data (sim.state()): the feed must return exactly the users (or runs) the predicate selects, and the filter is
 * applied in the gateway, after the one list call.
 */
import { describe, expect, it } from 'vitest';
import type { UpstreamUser } from '../src/simulator/index.ts';
import { COUNTED_UPSTREAM, stackForFile } from './harness.ts';
import { odata } from './odata-client.ts';

const stack = stackForFile(COUNTED_UPSTREAM);

async function userNamesFor(filter: string): Promise<string[]> {
  const answer = await odata(stack, `/odata/Users?$select=userName&$filter=${encodeURIComponent(filter)}`);
  expect(answer.status, `${filter}: ${answer.text}`).toBe(200);
  return (answer.json?.value ?? []).map((user) => user.userName as string).sort();
}

function expected(select: (user: UpstreamUser) => boolean): string[] {
  return stack.sim
    .state()
    .users()
    .filter(select)
    .map((user) => user.userName)
    .sort();
}

describe('$filter operators on Users', () => {
  it('each operator selects exactly the users the simulator has for it', async () => {
    const users = stack.sim.state().users();
    const someone = users[11] as UpstreamUser;
    const other = users[23] as UpstreamUser;
    const middle = [...users].map((u) => u.userName).sort()[Math.floor(users.length / 2)] as string;
    const cases: Array<[string, (user: UpstreamUser) => boolean]> = [
      [`userName eq '${someone.userName}'`, (u) => u.userName === someone.userName],
      [`userName ne '${someone.userName}'`, (u) => u.userName !== someone.userName],
      [`userName gt '${middle}'`, (u) => u.userName > middle],
      [`userName ge '${middle}'`, (u) => u.userName >= middle],
      [`userName lt '${middle}'`, (u) => u.userName < middle],
      [`userName le '${middle}'`, (u) => u.userName <= middle],
      ['enabled eq true', (u) => u.enable === 'Y'],
      ['enabled', (u) => u.enable === 'Y'],
      ['not enabled', (u) => u.enable !== 'Y'],
      ["enabled eq false and userType eq 'SAML'", (u) => u.enable !== 'Y' && u.userType === 'SAML'],
      ["userType eq 'SAML' or enabled eq false", (u) => u.userType === 'SAML' || u.enable !== 'Y'],
      [
        `userName in ('${someone.userName}', '${other.userName}', 'nobody')`,
        (u) => u.userName === someone.userName || u.userName === other.userName,
      ],
      ["contains(email,'Acme')", (u) => (u.email ?? '').includes('Acme')],
      ["contains(tolower(email),'acme')", (u) => (u.email ?? '').toLowerCase().includes('acme')],
      ["startswith(userName,'a')", (u) => u.userName.startsWith('a')],
      ["endswith(email,'.com')", (u) => (u.email ?? '').endsWith('.com')],
      [
        `toupper(userName) eq '${someone.userName.toUpperCase()}'`,
        (u) => u.userName.toUpperCase() === someone.userName.toUpperCase(),
      ],
      ['description eq null', (u) => u.description === undefined],
      ['description ne null', (u) => u.description !== undefined],
      [
        "not (startswith(userName,'a') or startswith(userName,'b')) and (userType eq 'NATIVE')",
        (u) => !(u.userName.startsWith('a') || u.userName.startsWith('b')) && u.userType === 'NATIVE',
      ],
    ];
    for (const [filter, select] of cases) {
      const want = expected(select);
      expect(await userNamesFor(filter), filter).toEqual(want);
    }
    // A filter that selects nothing and one that selects everything are both in the table: it discriminates.
    expect(new Set(cases.map(([, select]) => expected(select).length)).size).toBeGreaterThan(5);
    // One users list per request, whatever the filter.
    expect(stack.sim.requests({ path: '/service/api/*' })).toHaveLength(cases.length);
  });

  it('string comparisons are case-sensitive; tolower makes them not', async () => {
    const someone = stack.sim.state().users()[5] as UpstreamUser;
    const shouted = someone.userName.toUpperCase();
    expect(shouted).not.toBe(someone.userName);
    expect(await userNamesFor(`userName eq '${shouted}'`)).toEqual([]);
    expect(await userNamesFor(`tolower(userName) eq '${shouted.toLowerCase()}'`)).toEqual([someone.userName]);
  });

  it("a quote inside a string is doubled ('O''Brien'), also inside an in list", async () => {
    expect(await userNamesFor("lastName eq 'O''Brien' or userName in ('x''y', 'it''s)')")).toEqual(
      expected((u) => u.lastName === "O'Brien"),
    );
  });
});

describe('$filter on execution runs', () => {
  it('gt/lt on instants and numbers, eq on an enum, within the named deployments', async () => {
    const names = stack.sim.fixtures.deploymentNames.slice(0, 3);
    const list = names.map((name) => `'${name}'`).join(',');
    const all = await odata(stack, `/odata/DeploymentExecutions?$filter=deploymentName in (${list})`);
    const runs = all.json?.value ?? [];
    expect(runs.length).toBeGreaterThan(3);
    const starts = runs
      .map((run) => run.startedAt as string | null)
      .filter((at): at is string => at !== null)
      .sort();
    const pivot = starts[Math.floor(starts.length / 2)] as string;
    const cases: Array<[string, (run: Record<string, unknown>) => boolean]> = [
      [
        `startedAt ge ${pivot}`,
        (run) => run.startedAt !== null && Date.parse(run.startedAt as string) >= Date.parse(pivot),
      ],
      [
        `startedAt lt ${pivot}`,
        (run) => run.startedAt !== null && Date.parse(run.startedAt as string) < Date.parse(pivot),
      ],
      ['durationSeconds gt 60', (run) => typeof run.durationSeconds === 'number' && run.durationSeconds > 60],
      ["state eq 'FAILED'", (run) => run.state === 'FAILED'],
      ['endedAt eq null', (run) => run.endedAt === null],
    ];
    for (const [condition, select] of cases) {
      const answer = await odata(
        stack,
        `/odata/DeploymentExecutions?$filter=${encodeURIComponent(`deploymentName in (${list}) and ${condition}`)}`,
      );
      expect(answer.status, answer.text).toBe(200);
      const ids = (answer.json?.value ?? []).map((run) => `${run.deploymentName}|${run.executionId}`).sort();
      expect(ids, condition).toEqual(
        runs
          .filter(select)
          .map((run) => `${run.deploymentName}|${run.executionId}`)
          .sort(),
      );
    }
  });

  it('Power BI folds a list as an or of eq: that pins the names too', async () => {
    const [a, b] = stack.sim.fixtures.deploymentNames;
    const answer = await odata(
      stack,
      `/odata/DeploymentExecutions?$filter=${encodeURIComponent(`(deploymentName eq '${a}' or deploymentName eq '${b}') and state ne 'RUNNING'`)}`,
    );
    expect(answer.status, answer.text).toBe(200);
    expect(new Set(answer.json?.value?.map((run) => run.deploymentName))).toEqual(new Set([a, b]));
    const calls = stack.sim.requests({ path: '/service/api/*' });
    expect(calls.map((call) => `${call.path}?${call.query.name}`).sort()).toEqual(
      [a, b].map((name) => `/service/api/deployment/get_execution_details?${name}`).sort(),
    );
  });
});
