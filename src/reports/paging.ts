/**
 * A report of a connection is the whole connection: the gateway pages it itself instead of stopping at the first
 * page. The report's query is rewritten once: its root connection field takes `first: 1000, after:
 * $__reportAfter` (whatever `first` or `after` it had) and selects `__reportPageInfo: pageInfo { hasNextPage
 * endCursor }`; the route then runs it page after page, each an ordinary GraphQL request with its own limits.
 * Variables the rewrite leaves unused are dropped from the operation, so it stays valid.
 */
import {
  type ArgumentNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  Kind,
  type OperationDefinitionNode,
  print,
  visit,
} from 'graphql';

/** The graph's largest page: the fewest requests per report. */
export const REPORT_PAGE_SIZE = 1000;
export const PAGE_INFO_KEY = '__reportPageInfo';
export const AFTER_VARIABLE = '__reportAfter';

export interface PagedQuery {
  text: string;
  operationName: string | undefined;
}

const CONNECTION_LISTS = new Set(['nodes', 'edges']);

function isConnection(field: FieldNode): boolean {
  const selects = field.selectionSet?.selections ?? [];
  const backwards = (field.arguments ?? []).some(
    (arg) => arg.name.value === 'last' || arg.name.value === 'before',
  );
  return !backwards && selects.some((s) => s.kind === Kind.FIELD && CONNECTION_LISTS.has(s.name.value));
}

const name = (value: string) => ({ kind: Kind.NAME, value }) as const;

function pagedField(field: FieldNode): FieldNode {
  const args: ArgumentNode[] = (field.arguments ?? []).filter(
    (arg) => arg.name.value !== 'first' && arg.name.value !== 'after',
  );
  args.push(
    { kind: Kind.ARGUMENT, name: name('first'), value: { kind: Kind.INT, value: String(REPORT_PAGE_SIZE) } },
    { kind: Kind.ARGUMENT, name: name('after'), value: { kind: Kind.VARIABLE, name: name(AFTER_VARIABLE) } },
  );
  const pageInfo: FieldNode = {
    kind: Kind.FIELD,
    alias: name(PAGE_INFO_KEY),
    name: name('pageInfo'),
    selectionSet: {
      kind: Kind.SELECTION_SET,
      selections: [
        { kind: Kind.FIELD, name: name('hasNextPage') },
        { kind: Kind.FIELD, name: name('endCursor') },
      ],
    },
  };
  return {
    ...field,
    arguments: args,
    selectionSet: {
      kind: Kind.SELECTION_SET,
      selections: [...(field.selectionSet?.selections ?? []), pageInfo],
    },
  };
}

function reachableFragments(
  document: DocumentNode,
  operation: OperationDefinitionNode,
): FragmentDefinitionNode[] {
  const all = new Map(
    document.definitions
      .filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
      .map((fragment) => [fragment.name.value, fragment]),
  );
  const reached = new Map<string, FragmentDefinitionNode>();
  const walk = (node: OperationDefinitionNode | FragmentDefinitionNode) =>
    visit(node, {
      FragmentSpread: (spread) => {
        const fragment = all.get(spread.name.value);
        if (!fragment || reached.has(fragment.name.value)) return;
        reached.set(fragment.name.value, fragment);
        walk(fragment);
      },
    });
  walk(operation);
  return [...reached.values()];
}

/** The variables an operation (and the fragments of the document) still uses. */
function usedVariables(document: DocumentNode): Set<string> {
  const used = new Set<string>();
  visit(document, {
    VariableDefinition: () => false,
    Variable: (node) => {
      used.add(node.name.value);
    },
  });
  return used;
}

/**
 * The report's operation with its root connection `rootKey` paged, or undefined when `rootKey` is not a root field
 * selecting a connection (a list that is not a connection is whole already).
 */
export function pagedQuery(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  rootKey: string,
): PagedQuery | undefined {
  const root = operation.selectionSet.selections.find(
    (s): s is FieldNode => s.kind === Kind.FIELD && (s.alias?.value ?? s.name.value) === rootKey,
  );
  if (!root || !isConnection(root)) return undefined;
  const rewritten: OperationDefinitionNode = {
    ...operation,
    variableDefinitions: [
      ...(operation.variableDefinitions ?? []),
      {
        kind: Kind.VARIABLE_DEFINITION,
        variable: { kind: Kind.VARIABLE, name: name(AFTER_VARIABLE) },
        type: { kind: Kind.NAMED_TYPE, name: name('String') },
      },
    ],
    selectionSet: {
      ...operation.selectionSet,
      selections: operation.selectionSet.selections.map((s) => (s === root ? pagedField(root) : s)),
    },
  };
  // Only this operation and the fragments it reaches: a document's other operations are not sent.
  const fragments = reachableFragments(document, rewritten);
  let paged: DocumentNode = { kind: Kind.DOCUMENT, definitions: [rewritten, ...fragments] };
  const used = usedVariables(paged);
  paged = {
    ...paged,
    definitions: [
      {
        ...rewritten,
        variableDefinitions: rewritten.variableDefinitions?.filter((d) => used.has(d.variable.name.value)),
      },
      ...fragments,
    ],
  };
  return { text: print(paged), operationName: operation.name?.value };
}
