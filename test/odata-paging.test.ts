/**
 * Server-driven paging over 2,500 users: following @odata.nextLink yields every user exactly once, in pages of at
 * most 1,000 (fewer with Prefer: odata.maxpagesize), each page costing the one users-list call a page of the graph
 * costs; $top spans pages; and users added between pages never make an existing one repeat or vanish.
 */
import { describe, expect, it } from 'vitest';
import { COUNTED_UPSTREAM, stackForFile } from './harness.ts';
import { followAll, odata } from './odata-client.ts';

const stack = stackForFile({ ...COUNTED_UPSTREAM, simulator: { users: 2500 } });
const apiCalls = () => stack.sim.requests({ path: '/service/api/*' });

const sortedNames = () =>
  stack.sim
    .state()
    .users()
    .map((u) => u.userName)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

describe('server-driven paging', () => {
  it('2,500 users through @odata.nextLink: each exactly once, pages of 1,000, one upstream call a page', async () => {
    const { entities, pages } = await followAll(stack, '/odata/Users?$select=userName,email&$count=true');
    expect(pages).toEqual([1000, 1000, 500]);
    expect(entities.map((user) => user.userName)).toEqual(sortedNames());
    // The same as the graph: `users(first: 1000)` three times is three users-list calls without a cache.
    expect(apiCalls().map((call) => call.path)).toEqual(Array(3).fill('/service/api/security/users'));
  });

  it('the next link keeps the options and the page size preference is honoured and said', async () => {
    const first = await odata(stack, '/odata/Users?$select=userName&$filter=enabled eq true&$count=true', {
      headers: { prefer: 'odata.maxpagesize=700' },
    });
    expect(first.headers['preference-applied']).toBe('odata.maxpagesize=700');
    const enabled = stack.sim
      .state()
      .users()
      .filter((u) => u.enable === 'Y').length;
    expect(first.json?.['@odata.count']).toBe(enabled);
    const link = new URL(first.json?.['@odata.nextLink'] ?? '');
    expect(link.searchParams.get('$filter')).toBe('enabled eq true');
    expect(link.searchParams.get('$select')).toBe('userName');
    expect(link.searchParams.has('$skiptoken')).toBe(true);

    const { pages } = await followAll(stack, '/odata/Users?$select=userName', {
      prefer: 'odata.maxpagesize=700',
    });
    expect(pages).toEqual([700, 700, 700, 400]);
  });

  it('$top spans pages, $skip applies once, and $orderby pages stay in order', async () => {
    const { entities, pages } = await followAll(stack, '/odata/Users?$select=userName&$top=1500&$skip=10');
    expect(pages).toEqual([1000, 500]);
    expect(entities.map((u) => u.userName)).toEqual(sortedNames().slice(10, 1510));

    const byEmail = await followAll(stack, '/odata/Users?$select=userName,email&$orderby=email desc');
    const emails = byEmail.entities.map((u) => `${u.email}`);
    expect(byEmail.entities).toHaveLength(2500);
    expect(new Set(byEmail.entities.map((u) => u.userName)).size).toBe(2500);
    // Descending by code unit (nulls last), as the keyset compares.
    for (let i = 1; i < emails.length; i++)
      expect((emails[i - 1] as string) >= (emails[i] as string)).toBe(true);
  });

  it('users added between pages: every user present throughout appears exactly once', async () => {
    const before = sortedNames();
    const first = await odata(stack, '/odata/Users?$select=userName');
    const seen = (first.json?.value ?? []).map((u) => u.userName as string);
    expect(seen).toEqual(before.slice(0, 1000));
    // One name sorts before the page boundary (already passed), one after it (still ahead).
    for (const userName of ['aaa.early', 'zzz.late']) {
      const created = await stack.graphql(
        'mutation ($input: CreateSsoUserInput!) { createSsoUser(input: $input) { userName } }',
        { input: { userName, firstName: 'New', email: `${userName}@example.com` } },
      );
      expect(created.errors).toBeUndefined();
    }
    let next = first.json?.['@odata.nextLink'];
    while (next) {
      const page = await odata(stack, next);
      seen.push(...(page.json?.value ?? []).map((u) => u.userName as string));
      next = page.json?.['@odata.nextLink'];
    }
    expect(seen.filter((name) => name === 'aaa.early')).toHaveLength(0);
    expect(seen.filter((name) => name === 'zzz.late')).toHaveLength(1);
    expect(seen.filter((name) => name !== 'zzz.late')).toEqual(before);
  });
});
