/**
 * A GraphQL result as rows. The rows are the objects at a *row path*: response keys from the data root (e.g.
 * `users.nodes`, `deployments.executions`); every list crossed on the way multiplies the rows, and the leaf fields of
 * each object crossed after the first list (a deployment's `name`) are repeated on each of its rows. Columns are
 * leaf paths joined with `.`, relative to the first list's objects (`name`, `executions.startedAt`), taken from the
 * document rather than the data, so an empty result still has its header and every row the same columns. A path
 * that crosses a nested list off the row path becomes one cell, its values joined with "; ", an empty value kept
 * as an empty item so the joined cells of one row line up (`20; ; 2626`).
 *
 * Purely syntactic below the path: a field with a sub-selection is an object (or a list of them), a field without
 * one a leaf. Which path is the default (the first list of objects) is row-path.ts' business, with the schema.
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

export interface Rows {
  columns: string[];
  rows: Iterable<Cell[]>;
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

/** One step of a row path: its key, the shape below it, and the column prefix of the objects reached there. */
interface Step {
  key: string;
  shape: Shape;
  prefix: string;
}

/**
 * The steps of `path` through `shape`, or a message saying which key is not an object field there. The prefix
 * starts after the first list, which the caller marks by `firstList` (the index of the key that is a list); the
 * `node` of a connection's `edges` adds nothing to it.
 */
function stepsOf(shape: Shape, path: readonly string[], firstList: number): Step[] | string {
  const steps: Step[] = [];
  let below: Shape = shape;
  let prefix = '';
  for (const [i, key] of path.entries()) {
    const next = below.get(key);
    if (!next)
      return `${path.slice(0, i + 1).join('.')} is not a field with a selection in the report's query`;
    if (i > firstList && !(key === 'node' && path[i - 1] === 'edges')) prefix += `${key}.`;
    steps.push({ key, shape: next, prefix });
    below = next;
  }
  return steps;
}

/** The leaf columns of one step's objects, less the branch the path continues through. */
function columnsOf(step: Step, continuesThrough: string | undefined): string[] {
  const shape: Shape = new Map([...step.shape].filter(([key]) => key !== continuesThrough));
  return leafPaths(shape, step.prefix);
}

/**
 * The rows at `path` in `data`. `firstList` is the index in `path` of the first list (row-path.ts knows it from
 * the schema); before it the path goes through single objects. A string is a problem with the path.
 */
export function rowsAt(
  data: unknown,
  shape: Shape,
  path: readonly string[],
  firstList: number,
): Rows | string {
  const steps = stepsOf(shape, path, firstList);
  if (typeof steps === 'string') return steps;
  const levels = steps.slice(firstList);
  // A connection's edge is plumbing (its cursor): the rows are its nodes.
  const columnSets = levels.map((step, i) =>
    step.key === 'edges' && levels[i + 1]?.key === 'node' ? [] : columnsOf(step, levels[i + 1]?.key),
  );
  const columns = columnSets.flat();
  return { columns, rows: expand(data, steps, firstList, columnSets) };
}

function* expand(
  data: unknown,
  steps: readonly Step[],
  firstList: number,
  columnSets: readonly string[][],
): Generator<Cell[]> {
  // Down to the first list through single objects.
  let value: unknown = data;
  for (const step of steps.slice(0, firstList)) value = isObject(value) ? value[step.key] : null;
  const top = isObject(value) ? value[(steps[firstList] as Step).key] : null;
  yield* fanOut(top, steps, firstList, columnSets, []);
}

/** Each element of `value` (a list, or one object) at step `i`, with the cells of the levels above it. */
function* fanOut(
  value: unknown,
  steps: readonly Step[],
  i: number,
  columnSets: readonly string[][],
  above: readonly Cell[],
): Generator<Cell[]> {
  const items = Array.isArray(value) ? value : value === null || value === undefined ? [] : [value];
  const level = i - (steps.length - columnSets.length);
  const columns = columnSets[level] as string[];
  const step = steps[i] as Step;
  for (const item of items) {
    const cells = [
      ...above,
      ...rowOf(
        item,
        columns.map((column) => column.slice(step.prefix.length)),
      ),
    ];
    const next = steps[i + 1];
    if (!next) {
      yield cells;
      continue;
    }
    yield* fanOut(isObject(item) ? item[next.key] : null, steps, i + 1, columnSets, cells);
  }
}

export function leafPaths(shape: Shape, prefix = ''): string[] {
  const paths: string[] = [];
  for (const [key, below] of shape) {
    if (below) paths.push(...leafPaths(below, `${prefix}${key}.`));
    else paths.push(`${prefix}${key}`);
  }
  return paths;
}

/** One object's cells, in column order (columns relative to the object). */
export function rowOf(item: unknown, columns: readonly string[]): Cell[] {
  return columns.map((column) => cellAt(item, column.split('.')));
}

function cellAt(item: unknown, path: readonly string[]): Cell {
  const found: unknown[] = [];
  const crossedList = collect(item, path, 0, found);
  if (!crossedList) return scalar(found[0] ?? null);
  // Empty values stay as empty items: cell i of one joined column lines up with cell i of its siblings.
  return found
    .map((value) => (value === null || value === undefined ? '' : String(scalar(value))))
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
  if (!isObject(value)) {
    // A missing object still holds its place in a joined cell.
    out.push(null);
    return false;
  }
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
