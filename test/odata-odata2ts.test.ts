/**
 * A real OData client reads the feed: odata2ts (a generator that reads $metadata strictly: keys, Edm types,
 * navigation properties) generates a typed TypeScript service from this gateway's own $metadata, and its runtime
 * (@odata2ts/odata-service over fetch, Basic credentials) reads every entity set, a key lookup and a filtered,
 * ordered, paged query. The generated files go under node_modules/.cache (they resolve the runtime from the
 * project's node_modules) and are removed after.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FetchClient } from '@odata2ts/http-client-fetch';
import { afterAll, describe, expect, it } from 'vitest';
import { COUNTED_UPSTREAM, stackForFile } from './harness.ts';
import { basic, odata } from './odata-client.ts';

const stack = stackForFile(COUNTED_UPSTREAM);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'node_modules', '.cache', `odata2ts-${process.pid}`);
afterAll(() => rmSync(OUT, { recursive: true, force: true }));

interface Response<T> {
  data: T;
}
type Query = (builder: Builder, q: Record<string, QProp>) => void;
interface Builder {
  select(...names: string[]): Builder;
  filter(...conditions: unknown[]): Builder;
  orderBy(...orders: unknown[]): Builder;
  top(n: number): Builder;
  skip(n: number): Builder;
  count(): Builder;
}
interface QProp {
  eq(value: unknown): unknown;
  in(...values: unknown[]): unknown;
  gt(value: unknown): unknown;
  desc(): unknown;
  asc(): unknown;
}
interface Collection {
  query(fn?: Query): Promise<Response<{ value: Array<Record<string, unknown>>; '@odata.count'?: number }>>;
}
interface Single {
  query(): Promise<Response<Record<string, unknown>>>;
}
type SetService = ((id: unknown) => Single) & (() => Collection);
interface Service {
  Users: SetService;
  Groups: SetService;
  Memberships: SetService;
  DeploymentExecutions: SetService;
  ExportExecutions: SetService;
}

async function generatedService(): Promise<Service> {
  const metadata = await odata(stack, '/odata/$metadata', { authorization: null });
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'metadata.xml'), metadata.text);
  writeFileSync(
    join(OUT, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'bundler' } }),
  );
  // The generator fails on metadata it cannot read (a missing key, an unknown type, a dangling reference).
  execFileSync(
    join(ROOT, 'node_modules', '.bin', 'odata2ts'),
    ['-s', 'metadata.xml', '-o', 'out', '-m', 'service', '-e', 'ts', '-name', 'Gateway'],
    { cwd: OUT, stdio: 'pipe' },
  );
  const module = (await import(join(OUT, 'out', 'GatewayService.ts'))) as {
    GatewayService: new (client: FetchClient, basePath: string) => Service;
  };
  const client = new FetchClient({ headers: { authorization: basic(stack.token, 'odata2ts') } });
  return new module.GatewayService(client, `${stack.origin}/odata`);
}

describe('an OData client generated from $metadata (odata2ts)', () => {
  it('reads every entity set, a key lookup and a filtered, ordered, counted query', async () => {
    const service = await generatedService();
    const state = stack.sim.state();

    const users = await service.Users().query((b) => b.select('userName', 'enabled').top(5));
    expect(users.data.value).toHaveLength(5);
    expect(typeof users.data.value[0]?.enabled).toBe('boolean');

    const groups = await service.Groups().query((b) => b.count());
    expect(groups.data['@odata.count']).toBe(state.groups().length);
    expect(groups.data.value.every((g) => typeof g.userCount === 'number')).toBe(true);

    const memberships = await service.Memberships().query((b) => b.top(3));
    expect(memberships.data.value[0]).toEqual({
      userName: expect.any(String),
      groupName: expect.any(String),
    });

    const [deployment] = stack.sim.fixtures.deploymentNames;
    const runs = await service
      .DeploymentExecutions()
      .query((b, q) =>
        b.filter((q.deploymentName as QProp).eq(deployment)).orderBy((q.startedAt as QProp).desc()),
      );
    expect(runs.data.value.length).toBeGreaterThan(0);
    const starts = runs.data.value.map((run) => String(run.startedAt));
    expect(starts).toEqual([...starts].sort().reverse());

    const [exportName] = stack.sim.fixtures.exportNames;
    const exports = await service
      .ExportExecutions()
      .query((b, q) => b.filter((q.exportName as QProp).eq(exportName)));
    expect(exports.data.value.every((run) => run.exportName === exportName)).toBe(true);

    const someone = state.users()[3];
    const one = await service.Users(someone?.userName).query();
    expect(one.data.userName).toBe(someone?.userName);

    const filtered = await service.Users().query((b, q) =>
      b
        .select('userName')
        .filter((q.userType as QProp).eq('SAML'))
        .count(),
    );
    expect(filtered.data['@odata.count']).toBe(state.users().filter((u) => u.userType === 'SAML').length);
  });
});
