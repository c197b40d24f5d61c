/**
 * Relay pagination over lists EPMware hands over whole (users, groups). Cursors are keyset cursors — the item's
 * sort value and name key — not offsets: a user created or deleted between two page requests shifts offsets and
 * would make a client see someone twice or miss someone, while a keyset cursor still points between the same two
 * names. The Relay arithmetic (first/last/after/before, hasNextPage) is Pothos' (parseCursorConnectionArgs, as its
 * resolveCursorConnection uses it).
 *
 * The hot path of a list screen, so: the sort order of a list is computed once per upstream answer and kept beside
 * it (`sortedOnce`, a WeakMap on the frozen list, at most one order per orderBy), and a cursor is encoded only when
 * a client reads it (edges' `cursor`, pageInfo's start and end), not for every item of every page.
 */
import { parseCursorConnectionArgs } from '@pothos/core';
import { InputError } from '../errors.ts';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export interface PageArgs {
  first?: number | null;
  last?: number | null;
  after?: string | null;
  before?: string | null;
}

/** Where an item sits in an ordering: its sort value (lower-cased; null sorts last) and its name key (ties). */
export type Position = readonly [value: string | null, key: string];

export interface Ordering<T> {
  /** Written into cursors, so a cursor from one ordering is never applied to another. */
  tag: string;
  descending: boolean;
  position(item: T): Position;
}

/** An item with its position in one ordering. */
export interface Sorted<T> {
  readonly item: T;
  readonly position: Position;
}

export interface Page<T> {
  edges: Array<{ readonly cursor: string; readonly node: T }>;
  pageInfo: {
    readonly hasNextPage: boolean;
    readonly hasPreviousPage: boolean;
    readonly startCursor: string | null;
    readonly endCursor: string | null;
  };
  totalCount: number;
}

/** Rejects page sizes and cursors the contract does not allow: before any upstream call. */
export function checkPageArgs(args: PageArgs, tag: string): void {
  for (const name of ['first', 'last'] as const) {
    const size = args[name];
    if (size != null && (size < 0 || size > MAX_PAGE_SIZE)) {
      throw new InputError(`"${name}" must be between 0 and ${MAX_PAGE_SIZE}, got ${size}`);
    }
  }
  if (args.after) decodeCursor(args.after, tag);
  if (args.before) decodeCursor(args.before, tag);
}

/** Values compare lower-cased by code unit (the same order in sort and cursor), nulls last either way. */
export function comparePositions(a: Position, b: Position, descending: boolean): number {
  if (a[0] !== b[0]) {
    if (a[0] === null) return 1;
    if (b[0] === null) return -1;
    const order = a[0] < b[0] ? -1 : 1;
    return descending ? -order : order;
  }
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

export function encodeCursor(tag: string, position: Position): string {
  return Buffer.from(JSON.stringify([tag, ...position])).toString('base64url');
}

export function decodeCursor(cursor: string, tag: string): Position {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InputError(`Invalid cursor "${cursor}"`);
  }
  if (
    !Array.isArray(decoded) ||
    decoded.length !== 3 ||
    typeof decoded[0] !== 'string' ||
    (decoded[1] !== null && typeof decoded[1] !== 'string') ||
    typeof decoded[2] !== 'string'
  ) {
    throw new InputError(`Invalid cursor "${cursor}"`);
  }
  if (decoded[0] !== tag) {
    throw new InputError('This cursor belongs to another ordering: page with the orderBy it came from');
  }
  return [decoded[1] as string | null, decoded[2]];
}

const sortOrders = new WeakMap<readonly unknown[], Map<string, readonly Sorted<unknown>[]>>();

/**
 * `items` sorted by `ordering`, with their positions: computed once per list and ordering. `items` must not change
 * afterwards (the directory's lists are frozen upstream answers).
 */
export function sortedOnce<T>(items: readonly T[], ordering: Ordering<T>): readonly Sorted<T>[] {
  let orders = sortOrders.get(items);
  if (!orders) {
    orders = new Map();
    sortOrders.set(items, orders);
  }
  let sorted = orders.get(ordering.tag) as readonly Sorted<T>[] | undefined;
  if (!sorted) {
    const { descending } = ordering;
    sorted = Object.freeze(
      items
        .map((item): Sorted<T> => Object.freeze({ item, position: Object.freeze(ordering.position(item)) }))
        .sort((a, b) => comparePositions(a.position, b.position, descending)),
    );
    orders.set(ordering.tag, sorted as readonly Sorted<unknown>[]);
  }
  return sorted;
}

/** An edge whose cursor is encoded when (and each time) it is read: a `nodes` selection never reads one. */
class Edge<T> {
  constructor(
    readonly tag: string,
    readonly entry: Sorted<T>,
  ) {}

  get node(): T {
    return this.entry.item;
  }

  get cursor(): string {
    return encodeCursor(this.tag, this.entry.position);
  }
}

class PageInfo<T> {
  constructor(
    readonly edges: readonly Edge<T>[],
    readonly hasNextPage: boolean,
    readonly hasPreviousPage: boolean,
  ) {}

  get startCursor(): string | null {
    return this.edges[0]?.cursor ?? null;
  }

  get endCursor(): string | null {
    return this.edges.at(-1)?.cursor ?? null;
  }
}

/** Cuts the page `args` ask for out of `sorted` (already filtered, in `tag`'s ordering). */
export function paginate<T>(
  sorted: readonly Sorted<T>[],
  args: PageArgs,
  ordering: { tag: string; descending: boolean },
): Page<T> {
  const { descending, tag } = ordering;
  checkPageArgs(args, tag);
  const { after, before, limit, inverted, expectedSize, hasNextPage, hasPreviousPage } =
    parseCursorConnectionArgs({
      args,
      defaultSize: DEFAULT_PAGE_SIZE,
      maxSize: MAX_PAGE_SIZE,
    });
  let start = 0;
  let end = sorted.length;
  if (after) {
    const afterPosition = decodeCursor(after, tag);
    const index = sorted.findIndex((e) => comparePositions(e.position, afterPosition, descending) > 0);
    start = index === -1 ? sorted.length : index;
  }
  if (before) {
    const beforePosition = decodeCursor(before, tag);
    const index = sorted.findIndex((e) => comparePositions(e.position, beforePosition, descending) >= 0);
    end = index === -1 ? sorted.length : index;
  }
  end = Math.max(start, end);
  // As resolveCursorConnection does: fetch one more than the page to know whether there is a next (or previous)
  // one, keep the page, and restore the order when paging backwards.
  const fetched = Math.min(limit, end - start);
  const kept = Math.min(fetched, expectedSize);
  // Forwards the page is the `kept` items from `start`; backwards, the `kept` items nearest `end`.
  const first = inverted ? end - kept : start;
  const edges: Edge<T>[] = new Array(kept);
  for (let i = 0; i < kept; i++) {
    const entry = sorted[first + i];
    edges[i] = new Edge(tag, entry as Sorted<T>);
  }
  return {
    edges,
    pageInfo: new PageInfo(edges, hasNextPage(fetched), hasPreviousPage(fetched)),
    totalCount: sorted.length,
  };
}
