/**
 * The estimate half of demand control: before an operation runs, the most upstream calls it can cause, counted
 * the way the resolvers make them. The walk follows the executor's own field collection (graphql-tools'
 * collectFields: fragments, inline fragments, @include/@skip, and @defer'd fragments, which still run), with the
 * request's coerced variables, so a list passed as a variable counts like one written inline.
 *
 * Two kinds of calls (see Tally): those a request makes at most once per key (the users, groups and memberships
 * lists, an execution history per name; DataLoaders and the SecurityDirectory share them), and those made every
 * time a field resolves (a task's status or log, a write). field-costs.ts says which field makes which.
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
  getOperationAST,
  Kind,
  type OperationDefinitionNode,
  type OperationTypeNode,
  type SelectionSetNode,
  valueFromASTUntyped,
} from 'graphql';
import { type Child, FIELD_COSTS, lazyTaskStatus, namedObjectType, type Place } from './field-costs.ts';

/** Beyond this many calls the walk stops: the answer is "more than this", and the work stays bounded. */
export const ESTIMATE_CEILING = 100_000;
/** Fields visited at most; a document past this (fragments spread into fragments) is refused as too large. */
const MAX_FIELD_VISITS = 200_000;

export interface DemandEstimate {
  /** The most upstream calls; ESTIMATE_CEILING + 1 stands for "more than the ceiling". */
  calls: number;
  operation: OperationTypeNode;
}

class CeilingReached extends Error {}

/** Calls counted so far: keyed ones count once however often they come up, the others every time. */
export class Tally {
  readonly #keys = new Set<string>();
  #repeated = 0;
  #visits = 0;
  #scopes = 0;

  /** A call the request makes at most once for this key (a list, a history). */
  once(key: string): void {
    this.#keys.add(key);
    this.#check();
  }

  /** Calls made each time: `count` resolutions of a field that calls upstream. */
  each(count: number): void {
    this.#repeated += count;
    this.#check();
  }

  /** A new scope for security reads: a user mutation drops what the request had read before it. */
  newScope(): string {
    this.#scopes += 1;
    return `mutation-${this.#scopes}`;
  }

  get calls(): number {
    return this.#keys.size + this.#repeated;
  }

  visit(): void {
    this.#visits += 1;
    if (this.#visits > MAX_FIELD_VISITS) throw new CeilingReached();
  }

  #check(): void {
    if (this.calls > ESTIMATE_CEILING) throw new CeilingReached();
  }
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
 * The variables as sent, with the operation's defaults for those left out. Not graphql's getVariableValues: its
 * instanceof checks fail across copies of graphql (see field-costs.ts). Values that would not coerce only make
 * execution refuse the operation before any resolver runs; the costs read lists and strings defensively.
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
  lazyTaskStatus(
    place,
    type,
    selected.map((nodes) => nodes[0]?.name.value ?? ''),
    walk.tally,
  );
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
    const cost = FIELD_COSTS[`${type.name}.${node.name.value}`];
    const children = cost
      ? cost({ args, place, tally: walk.tally, schema: walk.schema, returnType: definition.type })
      : defaultChildren(walk.schema, definition.type, place);
    for (const child of children) {
      const sub = collectSubFields(walk.schema, walk.fragments, walk.variables, child.type, nodes);
      visitFields(walk, child.type, sub, child.place);
    }
  }
}

/** A field without a cost of its own: its object (if any) is walked one level deeper, in the same place. */
function defaultChildren(schema: GraphQLSchema, returnType: GraphQLOutputType, place: Place): Child[] {
  const type = namedObjectType(schema, returnType);
  return type ? [{ type, place: { ...place, depth: place.depth + 1 } }] : [];
}
