/**
 * Demand control, the declarations: what a field costs upstream is declared on the field (the `upstream` option)
 * and a Node type's loading cost on the type (`upstreamLoad`). A field with a resolver of its own that declares
 * nothing, or a Node type without `upstreamLoad`, fails the schema build with a message naming it and what to add;
 * the estimate reads what is declared from the built schema.
 */
import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import UpstreamCostPlugin from '../src/cost/cost-plugin.ts';
import { estimateUpstreamCalls } from '../src/cost/estimate.ts';
import { declaredCost, declaredLoadCost } from '../src/cost/field-cost.ts';
import { schema } from '../src/schema/index.ts';

function costBuilder() {
  const builder = new SchemaBuilder<{ Objects: { Profile: { name: string } } }>({
    plugins: [UpstreamCostPlugin],
  });
  builder.objectType('Profile', {
    fields: (t) => ({
      // Exposed: reads its parent as it is, needs no declaration.
      name: t.exposeString('name'),
    }),
  });
  return builder;
}

describe('the served schema', () => {
  it('declares a cost on every field with a resolver of its own, and a loading cost on every Node type', () => {
    const node = schema.getType('Node');
    expect(node).toBeDefined();
    const nodeTypes = node ? schema.getPossibleTypes(node as never) : [];
    expect(nodeTypes.map((type) => type.name).sort()).toEqual([
      'DeploymentExecution',
      'ExportExecution',
      'Group',
      'Task',
      'User',
    ]);
    expect(nodeTypes.filter((type) => !declaredLoadCost(type)).map((type) => type.name)).toEqual([]);
    // The fields that reach EPMware carry a function; nothing is left to a lookup table.
    const mutation = schema.getMutationType();
    const user = schema.getType('User') as never as { getFields(): Record<string, never> };
    expect(typeof declaredCost(mutation?.getFields().runDeployment as never)).toBe('function');
    expect(typeof declaredCost(user.getFields().groups as never)).toBe('function');
    expect(declaredCost(user.getFields().id as never)).toBe('none');
  });
});

describe('building a schema', () => {
  it('fails for a field with a resolver that declares no upstream cost, naming it and what to add', () => {
    const builder = costBuilder();
    builder.queryType({
      fields: (t) => ({
        profile: t.field({ type: 'Profile', resolve: () => ({ name: 'a' }) }),
        profiles: t.field({ type: ['Profile'], upstream: 'none', resolve: () => [] }),
      }),
    });
    builder.objectField('Profile', 'nickname', (t) => t.string({ resolve: (profile) => profile.name }));
    expect(() => builder.toSchema()).toThrow(
      "These fields have a resolver of their own but declare no upstream cost: Profile.nickname, Query.profile. Add `upstream: 'none'`",
    );
  });

  it('builds when every such field declares a cost, `none` included (exposed fields need none)', () => {
    const builder = costBuilder();
    builder.queryType({
      fields: (t) => ({
        profile: t.field({ type: 'Profile', upstream: 'none', resolve: () => ({ name: 'a' }) }),
      }),
    });
    expect(() => builder.toSchema()).not.toThrow();
  });

  it('fails for a Node type without upstreamLoad, naming it', () => {
    const builder = new SchemaBuilder<{ Objects: { Widget: { id: string } } }>({
      plugins: [RelayPlugin, UpstreamCostPlugin],
      relay: {
        idFieldOptions: { upstream: 'none' },
        nodeQueryOptions: { upstream: 'none' },
        nodesQueryOptions: { upstream: 'none' },
      },
    });
    builder.node('Widget', {
      id: { resolve: (widget) => widget.id },
      loadOne: () => null,
      fields: () => ({}),
    });
    builder.queryType({});
    expect(() => builder.toSchema()).toThrow(
      'These Node types declare no upstreamLoad: Widget. Add `upstreamLoad` to the type',
    );
  });

  it('carries the declaration to the estimate: a field declared to cost 7 calls per resolution', () => {
    const builder = costBuilder();
    builder.queryType({
      fields: (t) => ({
        profile: t.field({
          type: 'Profile',
          upstream: (field) => {
            field.tally.each(7);
            return field.select(field.place);
          },
          resolve: () => ({ name: 'a' }),
        }),
      }),
    });
    const built = builder.toSchema();
    expect(estimateUpstreamCalls(built, parse('{ profile { name } }'), {})?.calls).toBe(7);
    expect(
      estimateUpstreamCalls(built, parse('{ a: profile { name } b: profile { name } }'), {})?.calls,
    ).toBe(14);
  });
});
