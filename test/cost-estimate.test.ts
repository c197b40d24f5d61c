/**
 * Demand control, the estimate: documents that would fan out past MAX_UPSTREAM_CALLS_PER_OPERATION are refused
 * with GRAPHQL_VALIDATION_FAILED before EPMware sees anything (asserted on the simulator's request log), and the
 * legitimate shapes (a 20-name dashboard, deep users/groups nesting) still run.
 */
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { declaredCost } from '../src/cost/field-cost.ts';
import { schema } from '../src/schema/index.ts';
import { type GraphQLResponse, type Stack, startStack } from './harness.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => stack.sim.clearRequests());

const apiCalls = () => stack.sim.requests().filter((call) => call.path.startsWith('/service/api/'));

function names(count: number, prefix = 'D'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

function taskIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => Buffer.from(`Task:${1000 + i}`).toString('base64'));
}

function expectRefused(answer: GraphQLResponse<unknown>, estimate: string): void {
  expect(answer.status).toBe(400);
  expect(answer.data ?? null).toBeNull();
  expect(answer.errors).toHaveLength(1);
  expect(answer.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  expect(answer.errors?.[0]?.message).toContain(`could cause ${estimate} upstream calls`);
  expect(answer.errors?.[0]?.message).toContain('the limit is 50 (MAX_UPSTREAM_CALLS_PER_OPERATION)');
  expect(apiCalls()).toHaveLength(0);
}

describe('abusive documents are refused with zero upstream calls', () => {
  it('30 aliases x deployments(names: [100 names]) { executions }, the lists in variables', async () => {
    const variables: Record<string, string[]> = {};
    const definitions: string[] = [];
    const fields: string[] = [];
    for (let a = 0; a < 30; a++) {
      variables[`n${a}`] = names(100, `D${a}_`);
      definitions.push(`$n${a}: [String!]!`);
      fields.push(`a${a}: deployments(names: $n${a}) { name executions { state } }`);
    }
    const answer = await stack.graphql(
      `query (${definitions.join(', ')}) { ${fields.join(' ')} }`,
      variables,
    );
    expectRefused(answer, '3000');
  });

  it('one deployments(names) with 100 names written inline', async () => {
    const list = names(100)
      .map((name) => JSON.stringify(name))
      .join(', ');
    expectRefused(
      await stack.graphql(`{ deployments(names: [${list}]) { latestExecution { state } } }`),
      '100',
    );
  });

  it('nodes(ids: [3000 task ids]) passed as a variable', async () => {
    const answer = await stack.graphql('query ($ids: [ID!]!) { nodes(ids: $ids) { id } }', {
      ids: taskIds(3000),
    });
    expectRefused(answer, '3000');
  });

  it('51 aliased task(taskId) fields, each with its log', async () => {
    const fields = Array.from({ length: 26 }, (_, i) => `t${i}: task(taskId: "${i}") { state log }`);
    expectRefused(await stack.graphql(`{ ${fields.join(' ')} }`), '52');
  });

  it('counts fields inside named fragments, inline fragments and @include(if: $variable)', async () => {
    const answer = await stack.graphql(
      `query ($n: [String!]!, $show: Boolean!) { ...Dashboard }
       fragment Dashboard on Query {
         exports(names: $n) { ... on Export { latestExecution @include(if: $show) { state } } }
       }`,
      { n: names(60, 'E'), show: true },
    );
    expectRefused(answer, '60');
  });

  it('setUsersEnabled for 60 users: 60 writes and a read-back', async () => {
    const answer = await stack.graphql(
      'mutation ($n: [String!]!) { setUsersEnabled(userNames: $n, enabled: true) { ok } }',
      { n: names(60, 'user') },
    );
    expectRefused(answer, '61');
  });
});

describe('legitimate documents still run', () => {
  it('a 20-name dashboard: one history call per name, however many fields read it', async () => {
    const dashboard = stack.sim.fixtures.deploymentNames.slice(0, 20);
    const list = [...dashboard, ...names(20 - dashboard.length, 'MISSING_')];
    const answer = await stack.graphql<{ deployments: Array<{ name: string }> }>(
      `query ($n: [String!]!) {
         deployments(names: $n) { name latestExecution { state } recent: executions(latestOnly: true) { state } }
         again: deployments(names: $n) { latestExecution { startedAt } }
       }`,
      { n: list },
    );
    expect(answer.status).toBe(200);
    expect(answer.data?.deployments.map((deployment) => deployment.name)).toEqual(list);
    expect(apiCalls()).toHaveLength(20);
  });

  it('deep users/groups nesting on 1000-user pages, aliased, costs a few calls', async () => {
    const nested =
      'users(first: 1000) { nodes { userName groups { name users { groups { name userCount } } } } }';
    const answer = await stack.graphql(
      `{ a: ${nested} b: ${nested} groups { nodes { users { groups { name } } } } }`,
    );
    expect(answer.status).toBe(200);
    expect(answer.errors).toBeUndefined();
    expect(apiCalls().length).toBeLessThanOrEqual(3);
  });

  it('a list of exactly 50 names runs', async () => {
    const answer = await stack.graphql(
      'query ($n: [String!]!) { exports(names: $n) { latestExecution { state } } }',
      {
        n: names(50, 'E'),
      },
    );
    expect(answer.status).toBe(200);
    expect(apiCalls()).toHaveLength(50);
  });

  it('lists over a field own maximum stay BAD_USER_INPUT (the resolver refuses them, no call)', async () => {
    const answer = await stack.graphql('query ($n: [String!]!) { deployments(names: $n) { name } }', {
      n: names(101),
    });
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(apiCalls()).toHaveLength(0);
  });
});

describe('lists sent as a lone value', () => {
  it('nodes(ids: $ids) with one id sent alone counts like a list of one (GraphQL coerces it so)', async () => {
    const small = await startStack({ env: { MAX_UPSTREAM_CALLS_PER_OPERATION: '1' } });
    try {
      const query = 'query ($ids: [ID!]!) { nodes(ids: $ids) { id ... on Task { state log } } }';
      const [id] = taskIds(1);
      // Its status and its log: 2 calls, over the limit of 1, refused before any.
      const refused = await small.graphql(query, { ids: id });
      expect(refused.status).toBe(400);
      expect(refused.errors?.[0]?.message).toContain(
        'could cause 2 upstream calls to EPMware; the limit is 1',
      );
      expect(small.sim.requests()).toHaveLength(0);
    } finally {
      await small.close();
    }
  });
});

describe('MAX_UPSTREAM_CALLS_PER_OPERATION', () => {
  it('defaults to 50 and refuses a value below 1, naming the variable', () => {
    expect(loadConfig({}).maxUpstreamCallsPerOperation).toBe(50);
    expect(() => loadConfig({ MAX_UPSTREAM_CALLS_PER_OPERATION: '0' })).toThrow(
      'MAX_UPSTREAM_CALLS_PER_OPERATION: must be at least 1, got 0',
    );
    expect(() => loadConfig({ MAX_UPSTREAM_CALLS_PER_OPERATION: 'many' })).toThrow(ConfigError);
  });

  it('sets the limit', async () => {
    const small = await startStack({ env: { MAX_UPSTREAM_CALLS_PER_OPERATION: '3' } });
    try {
      // A subscription is estimated per event: its first state, then what each event's selection fetches.
      const subscription = await request(small.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          authorization: `Token ${small.token}`,
        },
        body: JSON.stringify({
          query: 'subscription { taskUpdates(taskId: "1") { state a: log b: log c: log } }',
        }),
      });
      const events = await subscription.body.text();
      expect(events).toContain('Each event of this subscription could cause 4 upstream calls');
      expect(events).toContain('GRAPHQL_VALIDATION_FAILED');
      expect(small.sim.requests()).toHaveLength(0);

      const query = 'query ($n: [String!]!) { deployments(names: $n) { latestExecution { state } } }';
      const refused = await small.graphql(query, { n: names(4) });
      expect(refused.errors?.[0]?.message).toContain(
        'could cause 4 upstream calls to EPMware; the limit is 3',
      );
      expect(small.sim.requests()).toHaveLength(0);
      const allowed = await small.graphql(query, { n: names(3) });
      expect(allowed.status).toBe(200);
      expect(small.sim.requests()).toHaveLength(3);
    } finally {
      await small.close();
    }
  });
});

describe('the declared costs', () => {
  it('every root field declares what it costs (a new one must say, or the schema does not build)', () => {
    const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()];
    const undeclared = roots
      .flatMap((type) => (type ? Object.values(type.getFields()).map((field) => ({ type, field })) : []))
      .filter(({ field }) => declaredCost(field) === undefined)
      .map(({ type, field }) => `${type.name}.${field.name}`);
    expect(undeclared).toEqual([]);
  });
});
