/**
 * Relay pagination over lists EPMware hands over whole (users, groups). Cursors are keyset cursors — the item's
 * sort value and name key — not offsets: a user created or deleted between two page requests shifts offsets and
 * would make a client see someone twice or miss someone, while a keyset cursor still points between the same two
 * names. The Relay arithmetic (first/last/after/before, hasNextPage) is Pothos' resolveCursorConnection.
 */
import { resolveCursorConnection } from '@pothos/plugin-relay';
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

export interface Page<T> {
  edges: Array<{ cursor: string; node: T }>;
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string | null;
    endCursor: string | null;
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

/** Sorts `items` by `ordering` and cuts the page `args` ask for. */
export async function paginate<T>(
  items: readonly T[],
  args: PageArgs,
  ordering: Ordering<T>,
): Promise<Page<T>> {
  checkPageArgs(args, ordering.tag);
  const { descending, tag } = ordering;
  type Entry = { item: T; position: Position };
  const sorted: Entry[] = items
    .map((item) => ({ item, position: ordering.position(item) }))
    .sort((a, b) => comparePositions(a.position, b.position, descending));

  const connection = await resolveCursorConnection<Entry[]>(
    {
      args,
      defaultSize: DEFAULT_PAGE_SIZE,
      maxSize: MAX_PAGE_SIZE,
      toCursor: (entry: Entry) => encodeCursor(tag, entry.position),
    },
    ({ after, before, limit, inverted }): Entry[] => {
      const afterPosition = after ? decodeCursor(after, tag) : undefined;
      const beforePosition = before ? decodeCursor(before, tag) : undefined;
      let start = 0;
      let end = sorted.length;
      if (afterPosition) {
        const index = sorted.findIndex((e) => comparePositions(e.position, afterPosition, descending) > 0);
        start = index === -1 ? sorted.length : index;
      }
      if (beforePosition) {
        const index = sorted.findIndex((e) => comparePositions(e.position, beforePosition, descending) >= 0);
        end = index === -1 ? sorted.length : index;
      }
      const window = sorted.slice(start, Math.max(start, end));
      return inverted ? window.slice(-limit).reverse() : window.slice(0, limit);
    },
  );

  const edges = connection.edges.map((edge) => ({ cursor: edge.cursor, node: edge.node.item }));
  return {
    edges,
    pageInfo: {
      hasNextPage: connection.pageInfo.hasNextPage,
      hasPreviousPage: connection.pageInfo.hasPreviousPage,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount: sorted.length,
  };
}
