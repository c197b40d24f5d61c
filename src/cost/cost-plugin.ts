/**
 * A Pothos plugin: what a field costs upstream is declared on the field, beside its resolver, as
 * `@pothos/plugin-complexity` declares `complexity`, and the built schema carries it in the field's `extensions`
 * for estimate.ts to read. Two options:
 *
 * - `upstream` on a field: `'none'` when it makes no call to EPMware, or its FieldCost (field-cost.ts).
 * - `upstreamLoad` on a Node type: what loading its objects by id costs, for node(id) and nodes(ids).
 *
 * Building the schema fails, naming each field, when a field with a resolver of its own declares nothing: a resolver
 * is the only way a field reaches EPMware (through the context), and an undeclared one would make the estimate too
 * low without anyone noticing. Fields that read their parent as it is (`t.expose*`, or no resolver) need nothing;
 * the fields the Relay plugin generates are declared once, in the builder's relay options. It fails the same way for
 * a Node type without `upstreamLoad`.
 *
 * Ours rather than @pothos/plugin-complexity: see docs/limits-and-security.md ("Why not a library").
 */
import SchemaBuilder, {
  BasePlugin,
  type FieldNullability,
  type InputFieldMap,
  type PothosOutputFieldConfig,
  PothosSchemaError,
  type PothosTypeConfig,
  type SchemaTypes,
  type TypeParam,
} from '@pothos/core';
import { type GraphQLSchema, isInterfaceType } from 'graphql';
import {
  COST_EXTENSION,
  declaredLoadCost,
  LOAD_COST_EXTENSION,
  type NodeLoadCost,
  type UpstreamCost,
} from './field-cost.ts';

declare global {
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      upstreamCost: UpstreamCostPlugin<Types>;
    }

    export interface FieldOptions<
      Types extends SchemaTypes,
      ParentShape,
      Type extends TypeParam<Types>,
      Nullable extends FieldNullability<Type>,
      Args extends InputFieldMap,
      ResolveShape,
      ResolveReturnShape,
    > {
      /** What one resolution of this field costs upstream: 'none', or its FieldCost (see cost/field-cost.ts). */
      upstream?: UpstreamCost;
    }

    export interface ObjectTypeOptions<Types extends SchemaTypes, Shape> {
      /** A Node type: what loading its objects by id costs upstream (node(id), nodes(ids)). */
      upstreamLoad?: NodeLoadCost;
    }
  }
}

const pluginName = 'upstreamCost';

/** Whether a field resolves on its own: a resolver (not Pothos' for t.expose*) or a subscriber. */
function resolvesOnItsOwn<Types extends SchemaTypes>(config: PothosOutputFieldConfig<Types>): boolean {
  if (config.subscribe) return true;
  return config.resolve !== undefined && config.extensions?.pothosExposedField !== config.name;
}

export class UpstreamCostPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  /** Fields found without a declaration in this build, named by the type that declares them. */
  readonly #undeclared = new Set<string>();

  override onOutputFieldConfig(config: PothosOutputFieldConfig<Types>): PothosOutputFieldConfig<Types> {
    const declared = config.pothosOptions.upstream;
    if (declared === undefined) {
      if (resolvesOnItsOwn(config)) {
        this.#undeclared.add(`${config.declaringType ?? config.parentType}.${config.name}`);
      }
      return config;
    }
    return { ...config, extensions: { ...config.extensions, [COST_EXTENSION]: declared } };
  }

  override onTypeConfig(config: PothosTypeConfig): PothosTypeConfig {
    if (config.kind !== 'Object' || !config.pothosOptions.upstreamLoad) return config;
    return {
      ...config,
      extensions: { ...config.extensions, [LOAD_COST_EXTENSION]: config.pothosOptions.upstreamLoad },
    };
  }

  override afterBuild(schema: GraphQLSchema): GraphQLSchema {
    const problems: string[] = [];
    if (this.#undeclared.size > 0) {
      problems.push(
        `These fields have a resolver of their own but declare no upstream cost: ${[...this.#undeclared].sort().join(', ')}. ` +
          "Add `upstream: 'none'` to a field's options when it makes no call to EPMware, or its cost (a FieldCost, " +
          'see src/cost/field-cost.ts) when it does.',
      );
    }
    const node = schema.getType('Node');
    const nodeTypes = isInterfaceType(node) ? schema.getPossibleTypes(node) : [];
    const unpriced = nodeTypes.filter((type) => !declaredLoadCost(type)).map((type) => type.name);
    if (unpriced.length > 0) {
      problems.push(
        `These Node types declare no upstreamLoad: ${unpriced.join(', ')}. Add \`upstreamLoad\` to the type's ` +
          'options: what loading its objects by id costs upstream (node(id), nodes(ids)).',
      );
    }
    if (problems.length > 0) throw new PothosSchemaError(problems.join('\n'));
    return schema;
  }
}

SchemaBuilder.registerPlugin(pluginName, UpstreamCostPlugin);

export default pluginName;
