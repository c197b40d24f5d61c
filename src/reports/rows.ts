/**
 * A GraphQL result as rows: the first list of objects in the result, depth-first in selection order (a
 * connection's `nodes`, or its `edges` unwrapped to `node`), one row per object. Columns are the leaf paths of that
 * list's selection joined with `.` (userName, groups.name), taken from the document rather than the data, so an
 * empty result still has its header and every row has the same columns. A path that crosses a nested list becomes
 * one cell: its values joined with "; ".
 *
 * Purely syntactic: a field with a sub-selection is an object (or a list of them), a field without one a leaf.
 */
import {
  type DocumentNode,
  type FragmentDefinitionNode,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** Response key -> the shape below it (null for a leaf), in selection order. */
export type Shape = Map<string, Shape | null>;

export type Cell = string | number | boolean | null;

export interface RowSource {
  columns: string[];
  /** The list's objects (a null item stays, as an empty row). */
  items: readonly unknown[];
}

export const LIST_SEPARATOR = '; ';

export function shapeOf(document: DocumentNode, operation: OperationDefinitionNode): Shape {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const shape: Shape = new Map();
  addSelections(shape, operation.selectionSet, fragments, new Set());
  return shape;
}

function addSelections(
  shape: Shape,
  selectionSet: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  spreading: ReadonlySet<string>,
): void {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      const key = selection.alias?.value ?? selection.name.value;
      if (!selection.selectionSet) {
        if (!shape.has(key)) shape.set(key, null);
        continue;
      }
      let below = shape.get(key);
      if (!below) {
        below = new Map();
        shape.set(key, below);
      }
      addSelections(below, selection.selectionSet, fragments, spreading);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      addSelections(shape, selection.selectionSet, fragments, spreading);
    } else {
      const name = selection.name.value;
      const fragment = fragments.get(name);
      // Validation has refused cycles already; the guard keeps this total anyway.
      if (fragment && !spreading.has(name)) {
        addSelections(shape, fragment.selectionSet, fragments, new Set([...spreading, name]));
      }
    }
  }
}

/** The first list of objects, depth-first; undefined when the data holds none (e.g. its objects are null). */
export function findRows(data: unknown, shape: Shape): RowSource | undefined {
  if (!isObject(data)) return undefined;
  for (const [key, below] of shape) {
    if (!below) continue;
    const value = data[key];
    if (Array.isArray(value)) {
      const node = below.get('node');
      if (key === 'edges' && node)
        return { columns: leafPaths(node), items: value.map((edge) => nodeOf(edge)) };
      return { columns: leafPaths(below), items: value };
    }
    const found = findRows(value, below);
    if (found) return found;
  }
  return undefined;
}

function nodeOf(edge: unknown): unknown {
  return isObject(edge) ? edge.node : null;
}

export function leafPaths(shape: Shape, prefix = ''): string[] {
  const paths: string[] = [];
  for (const [key, below] of shape) {
    if (below) paths.push(...leafPaths(below, `${prefix}${key}.`));
    else paths.push(`${prefix}${key}`);
  }
  return paths;
}

/** One object's cells, in column order. */
export function rowOf(item: unknown, columns: readonly string[]): Cell[] {
  return columns.map((column) => cellAt(item, column.split('.')));
}

function cellAt(item: unknown, path: readonly string[]): Cell {
  const found: unknown[] = [];
  const crossedList = collect(item, path, 0, found);
  if (!crossedList) return scalar(found[0] ?? null);
  return found
    .filter((value) => value !== null && value !== undefined)
    .map((value) => String(scalar(value)))
    .join(LIST_SEPARATOR);
}

/** Pushes the values at `path` under `value` into `out`; true when a list was crossed on the way. */
function collect(value: unknown, path: readonly string[], depth: number, out: unknown[]): boolean {
  if (Array.isArray(value)) {
    for (const element of value) collect(element, path, depth, out);
    return true;
  }
  if (depth === path.length) {
    out.push(value);
    return false;
  }
  if (!isObject(value)) return false;
  return collect(value[path[depth] as string], path, depth + 1, out);
}

function scalar(value: unknown): Cell {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  // A custom scalar serialised as an object (none in this schema today): keep it readable in one cell.
  return JSON.stringify(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
