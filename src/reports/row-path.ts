/**
 * Which list of a report's query its rows are: `?rows=deployments.executions` names one (response keys from the data
 * root), else the first list of objects depth-first in selection order (a connection's `nodes`, or its `edges`
 * with each edge's `node`). Read from the document and the schema, not the data, so the path is the same for an
 * empty or partly-null result, and a bad `rows` is refused before anything runs.
 */
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLInterfaceType,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  getNamedType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** A type whose fields a selection set picks from. */
type FieldsOwner = GraphQLObjectType | GraphQLInterfaceType;

/** The type a fragment's condition names, when it has fields. */
function ownerNamed(schema: GraphQLSchema, name: string): FieldsOwner | undefined {
  const type = schema.getType(name);
  return isObjectType(type) || isInterfaceType(type) ? type : undefined;
}

export interface RowPath {
  /** Response keys from the data root. */
  path: string[];
  /** The index in `path` of the first list. */
  firstList: number;
}

/** A field's output type: whether it is a list, and its named type when that has fields. */
function describe(type: GraphQLOutputType): {
  list: boolean;
  owner: FieldsOwner | undefined;
} {
  const nullable = isNonNullType(type) ? type.ofType : type;
  const named = getNamedType(type);
  return {
    list: isListType(nullable),
    owner: isObjectType(named) || isInterfaceType(named) ? named : undefined,
  };
}

interface FoundField {
  node: FieldNode;
  owner: FieldsOwner;
}

/** The fields of a selection set by response key, through fragments, with the type that owns each. */
function fieldsOf(
  schema: GraphQLSchema,
  owner: FieldsOwner,
  selectionSet: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  out: FoundField[] = [],
  spreading: ReadonlySet<string> = new Set(),
): FoundField[] {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      out.push({ node: selection, owner });
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const condition = selection.typeCondition
        ? ownerNamed(schema, selection.typeCondition.name.value)
        : undefined;
      fieldsOf(schema, condition ?? owner, selection.selectionSet, fragments, out, spreading);
    } else {
      const fragment = fragments.get(selection.name.value);
      if (!fragment || spreading.has(fragment.name.value)) continue;
      const condition = ownerNamed(schema, fragment.typeCondition.name.value);
      fieldsOf(
        schema,
        condition ?? owner,
        fragment.selectionSet,
        fragments,
        out,
        new Set([...spreading, fragment.name.value]),
      );
    }
  }
  return out;
}

function keyOf(node: FieldNode): string {
  return node.alias?.value ?? node.name.value;
}

function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  return fragments;
}

/** The row path named by `rows` (dot-separated response keys), or the default; a string says what is wrong. */
export function rowPathOf(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  rows: string | undefined,
): RowPath | undefined | string {
  const query = schema.getQueryType();
  if (!query) return 'The schema has no query type';
  const fragments = fragmentsOf(document);
  if (rows === undefined) return firstListPath(schema, query, operation.selectionSet, fragments, []);
  const path = rows.split('.').filter((key) => key !== '');
  let owner: FieldsOwner = query;
  let selectionSet: SelectionSetNode | undefined = operation.selectionSet;
  let firstList = -1;
  for (const [i, key] of path.entries()) {
    const found: FoundField | undefined = selectionSet
      ? fieldsOf(schema, owner, selectionSet, fragments).find((f) => keyOf(f.node) === key)
      : undefined;
    const definition: GraphQLField<unknown, unknown> | undefined =
      found?.owner.getFields()[found.node.name.value];
    const shape: ReturnType<typeof describe> | undefined = definition && describe(definition.type);
    if (!found?.node.selectionSet || !shape?.owner) {
      return `rows=${rows}: ${path.slice(0, i + 1).join('.')} is not a field with a selection in the report's query`;
    }
    if (shape.list && firstList < 0) firstList = i;
    owner = shape.owner;
    selectionSet = found.node.selectionSet;
  }
  if (firstList < 0)
    return `rows=${rows} crosses no list: name a list of objects, e.g. deployments.executions`;
  return { path, firstList };
}

function firstListPath(
  schema: GraphQLSchema,
  owner: FieldsOwner,
  selectionSet: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  above: readonly string[],
): RowPath | undefined {
  for (const found of fieldsOf(schema, owner, selectionSet, fragments)) {
    if (!found.node.selectionSet) continue;
    const definition = found.owner.getFields()[found.node.name.value];
    const shape = definition && describe(definition.type);
    if (!shape?.owner) continue;
    const path = [...above, keyOf(found.node)];
    if (shape.list) {
      const node =
        found.node.name.value === 'edges' &&
        found.node.selectionSet.selections.some(
          (s) => s.kind === Kind.FIELD && s.name.value === 'node' && !s.alias,
        );
      return { path: node ? [...path, 'node'] : path, firstList: above.length };
    }
    const deeper = firstListPath(schema, shape.owner, found.node.selectionSet, fragments, path);
    if (deeper) return deeper;
  }
  return undefined;
}
