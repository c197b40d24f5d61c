/**
 * Ordering and server-driven paging. Rows are sorted by the $orderby keys and then by the entity key, a total order
 * (the key is unique), and a page ends with a `$skiptoken` that holds the last row's sort values (keyset paging),
 * not an offset. The next page is the rows after that position *in the data as it is when that page is asked for*:
 *
 * - an entity present and unchanged from the first page to the last appears exactly once;
 * - one added or removed meanwhile appears at most once (before or after the position it would have had);
 * - with an $orderby on a property that changes between pages (a user renamed, disabled), that entity can move
 *   across the position and so be seen twice or not at all; the key alone (the default order) never changes.
 *
 * An offset would instead repeat or skip an *unchanged* entity whenever one before it is added or removed.
 *
 * Order of values: null first (ascending), strings by code unit (the order gt/lt compare with, so a filter and a
 * page boundary agree), numbers and instants by value, false before true.
 */
import { InputError } from '../errors.ts';
import { comparable, type Row } from './filter.ts';
import type { EdmProperty, EntitySet } from './model.ts';
import type { OrderKey } from './query.ts';

export type SortValue = string | number | boolean | null;

export const MAX_PAGE_SIZE = 1000;

export interface Page {
  rows: readonly Row[];
  /** The $skiptoken of the next page; undefined on the last. */
  nextToken: string | undefined;
}

function compareValues(a: SortValue, b: SortValue): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The $orderby keys followed by the entity key's properties not already among them. */
export function sortKeys(set: EntitySet, orderBy: readonly OrderKey[]): OrderKey[] {
  const keys = [...orderBy];
  for (const name of set.keys) {
    const property = set.byName.get(name) as EdmProperty;
    if (!keys.some((key) => key.property.name === name)) keys.push({ property, descending: false });
  }
  return keys;
}

function compareTuples(keys: readonly OrderKey[], a: readonly SortValue[], b: readonly SortValue[]): number {
  for (let i = 0; i < keys.length; i++) {
    const order = compareValues(a[i] ?? null, b[i] ?? null);
    if (order !== 0) return (keys[i] as OrderKey).descending ? -order : order;
  }
  return 0;
}

function tupleOf(keys: readonly OrderKey[], row: Row): SortValue[] {
  return keys.map((key) => comparable(key.property, row));
}

/** The token names the order it was made for, so a page of one order never continues another. */
function signatureOf(keys: readonly OrderKey[]): string {
  return keys.map((key) => `${key.property.name}${key.descending ? '-' : '+'}`).join(',');
}

function encodeToken(keys: readonly OrderKey[], tuple: readonly SortValue[]): string {
  return Buffer.from(JSON.stringify({ o: signatureOf(keys), k: tuple })).toString('base64url');
}

/** The position a $skiptoken holds, checked against the order it must have been made for (before any upstream call). */
export function decodeSkipToken(keys: readonly OrderKey[], token: string): SortValue[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const { o, k } = (parsed ?? {}) as { o?: unknown; k?: unknown };
  const valid =
    o === signatureOf(keys) &&
    Array.isArray(k) &&
    k.length === keys.length &&
    k.every((v) => v === null || ['string', 'number', 'boolean'].includes(typeof v));
  if (!valid) {
    throw new InputError(
      '$skiptoken is not one this feed gave for this $orderby: follow @odata.nextLink as it is',
    );
  }
  return k as SortValue[];
}

/**
 * One page of the matching rows: sorted, after the skip token's position (decodeSkipToken) (or past $skip rows on the first page),
 * at most `size` rows and at most `remaining` ($top less what earlier pages gave).
 */
export function pageOf(
  rows: readonly Row[],
  keys: readonly OrderKey[],
  options: {
    after: readonly SortValue[] | undefined;
    skip: number;
    size: number;
    remaining: number | undefined;
  },
): Page {
  const { after } = options;
  const sorted = rows
    .map((row) => ({ row, tuple: tupleOf(keys, row) }))
    .sort((a, b) => compareTuples(keys, a.tuple, b.tuple));
  let start = 0;
  if (after) {
    while (
      start < sorted.length &&
      compareTuples(keys, (sorted[start] as { tuple: SortValue[] }).tuple, after) <= 0
    ) {
      start++;
    }
  } else {
    start = Math.min(options.skip, sorted.length);
  }
  const limit = Math.min(options.size, options.remaining ?? Number.POSITIVE_INFINITY);
  const page = sorted.slice(start, start + limit);
  const more =
    start + page.length < sorted.length && page.length < (options.remaining ?? Number.POSITIVE_INFINITY);
  const last = page[page.length - 1];
  return {
    rows: page.map((entry) => entry.row),
    nextToken: more && last ? encodeToken(keys, last.tuple) : undefined,
  };
}
