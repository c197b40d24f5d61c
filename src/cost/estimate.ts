/**
 * The estimate half of demand control: before an operation runs, the most upstream calls it can cause, counted
 * the way the resolvers make them. The walk follows the executor's own field collection (graphql-tools'
 * collectFields: fragments, inline fragments, @include/@skip, and @defer'd fragments, which still run), with the
 * request's variables, so a list passed as a variable counts like one written inline.
 *
 * What each field costs is declared on the field (its `upstream` option, read back from the built schema's
 * extensions: field-cost.ts); a field without a declaration makes no call of its own and its object, if any, is
 * walked one level deeper.
 */
import {
  collectFields,
  collectSubFields,
  type FieldsAndPatches,
  getArgumentValues,
} from '@graphql-tools/utils';
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  getNamedType,
  getOperationAST,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type OperationTypeNode,
  type SelectionSetNode,
  valueFromASTUntyped,
} from 'graphql';
import {
  CeilingReached,
  type Child,
  declaredCost,
  declaredLoadCost,
  ESTIMATE_CEILING,
  type FieldCostInput,
  type Place,
  Tally,
} from './field-cost.ts';

export { ESTIMATE_CEILING };

export interface DemandEstimate {
  /** The most upstream calls; ESTIMATE_CEILING + 1 stands for "more than the ceiling". */
  readonly calls: number;
  readonly operation: OperationTypeNode;
}

interface Walk {
  schema: GraphQLSchema;
  fragments: Record<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
  tally: Tally;
}

/**
 * The estimate for one operation of a validated document (null when the document names no such operation).
 */
export function estimateUpstreamCalls(
  schema: GraphQLSchema,
  document: DocumentNode,
  rawVariables: Record<string, unknown> | null | undefined,
  operationName?: string | null,
): DemandEstimate | null {
  const operation = getOperationAST(document, operationName);
  if (!operation) return null;
  const root = schema.getRootType(operation.operation);
  if (!root) return null;
  const variables = withDefaults(operation, rawVariables ?? {});
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  }
  const walk: Walk = { schema, fragments, variables, tally: new Tally() };
  try {
    visitSelection(walk, root, operation.selectionSet, { scope: 'request', depth: 0, objects: 1 });
  } catch (error) {
    if (error instanceof CeilingReached)
      return { calls: ESTIMATE_CEILING + 1, operation: operation.operation };
    throw error;
  }
  return { calls: walk.tally.calls, operation: operation.operation };
}

/**
 * The variables as sent, with the operation's defaults for those left out. Not graphql's getVariableValues: a
 * value that would not coerce makes execution refuse the operation (400) before any resolver runs, so the estimate
 * needs only the values as sent; the costs read arguments defensively.
 */
function withDefaults(
  operation: OperationDefinitionNode,
  raw: Record<string, unknown>,
): Record<string, unknown> {
  const variables: Record<string, unknown> = { ...raw };
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    if (variables[name] === undefined && definition.defaultValue) {
      variables[name] = valueFromASTUntyped(definition.defaultValue);
    }
  }
  return variables;
}

function visitSelection(
  walk: Walk,
  type: GraphQLObjectType,
  selectionSet: SelectionSetNode,
  place: Place,
): void {
  visitFields(
    walk,
    type,
    collectFields(walk.schema, walk.fragments, walk.variables, type, selectionSet),
    place,
  );
}

/** The fields the executor runs for one selection: the immediate ones and the @defer'd ones, which run later. */
function allFields({ fields, patches }: FieldsAndPatches): FieldNode[][] {
  return [...fields.values(), ...patches.flatMap((patch) => [...patch.fields.values()])];
}

function visitFields(walk: Walk, type: GraphQLObjectType, collected: FieldsAndPatches, place: Place): void {
  const selected = allFields(collected);
  const definitions = type.getFields();
  if (place.lazy) lazyFetch(place.lazy, selected, place, walk.tally);
  for (const nodes of selected) {
    walk.tally.visit();
    const [node] = nodes;
    const definition = node && definitions[node.name.value];
    if (!node || !definition) continue; // __typename and introspection: no upstream call
    let args: Record<string, unknown>;
    try {
      args = getArgumentValues(definition, node, walk.variables);
    } catch {
      continue; // execution refuses this field before its resolver runs
    }
    const cost = declaredCost(definition);
    const children =
      cost === undefined || cost === 'none'
        ? defaultChildren(walk.schema, definition.type, place)
        : cost(new FieldVisit(walk, definition.type, args, place));
    for (const child of children) {
      const sub = collectSubFields(walk.schema, walk.fragments, walk.variables, child.type, nodes);
      visitFields(walk, child.type, sub, child.place);
    }
  }
}

/** Objects fetched only when a selected field needs more than `free`: one call per object if one does. */
function lazyFetch(free: ReadonlySet<string>, selected: FieldNode[][], place: Place, tally: Tally): void {
  for (const nodes of selected) {
    const field = nodes[0]?.name.value ?? '';
    if (!field.startsWith('__') && !free.has(field)) {
      tally.each(place.objects);
      return;
    }
  }
}

/** What a field's declared cost sees: its arguments, its place, the tally, and how to go below it. */
class FieldVisit implements FieldCostInput {
  readonly tally: Tally;

  constructor(
    private readonly walk: Walk,
    private readonly returnType: GraphQLOutputType,
    readonly args: Record<string, unknown>,
    readonly place: Place,
  ) {
    this.tally = walk.tally;
  }

  select(place: Place): Child[] {
    const type = namedObjectType(this.walk.schema, this.returnType);
    return type ? [{ type, place }] : [];
  }

  selectLoaded(typeName: string, localIds: readonly string[], place: Place): Child[] | null {
    const type = objectType(this.walk.schema, typeName);
    const load = type && declaredLoadCost(type);
    if (!type || !load) return null;
    load({ localIds, place, tally: this.tally });
    return [{ type, place }];
  }
}

/**
 * A field without a cost of its own: its object (if any) is walked one level deeper, in the same place (but not
 * lazily: that was its parent's fetch).
 */
function defaultChildren(schema: GraphQLSchema, returnType: GraphQLOutputType, place: Place): Child[] {
  const type = namedObjectType(schema, returnType);
  return type ? [{ type, place: { ...place, depth: place.depth + 1, lazy: undefined } }] : [];
}

/** A field's output type -> the object type under its lists and non-nulls (null: none), found once per type. */
const objectTypes = new WeakMap<GraphQLOutputType, GraphQLObjectType | null>();

function namedObjectType(schema: GraphQLSchema, type: GraphQLOutputType): GraphQLObjectType | undefined {
  let found = objectTypes.get(type);
  if (found === undefined) {
    found = objectType(schema, getNamedType(type).name) ?? null;
    objectTypes.set(type, found);
  }
  return found ?? undefined;
}

function objectType(schema: GraphQLSchema, name: string): GraphQLObjectType | undefined {
  const type = schema.getType(name);
  return isObjectType(type) ? type : undefined;
}
