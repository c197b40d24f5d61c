/**
 * Structured filters for list fields: the operators users of REST filter languages expect (iDempiere's $filter:
 * eq, neq, in, contains, startswith, endswith, and, or, not) as typed input fields rather than a string expression
 * language, so clients get validation and autocompletion. EPMware filters nothing itself (except userType), so
 * every operator is evaluated here, over the whole list fetched once per request.
 *
 * Every string operator is case-insensitive, as EPMware names are: tolower/toupper have no use here.
 */
import type { InputFieldBuilder, InputObjectRef } from '@pothos/core';
import { builder } from '../builder.ts';

export interface StringFilterShape {
  eq?: string | null;
  neq?: string | null;
  in?: readonly string[] | null;
  contains?: string | null;
  startsWith?: string | null;
  endsWith?: string | null;
  isNull?: boolean | null;
}

export const StringFilter = builder.inputType('StringFilter', {
  description:
    'Conditions on a text field, all case-insensitive; every condition given must hold. A missing value ' +
    '(null) matches only neq and isNull: true.',
  fields: (t) => ({
    eq: t.string({ description: 'Equal to' }),
    neq: t.string({ description: 'Not equal to (a missing value is not equal to anything)' }),
    in: t.stringList({ description: 'Equal to one of' }),
    contains: t.string(),
    startsWith: t.string(),
    endsWith: t.string(),
    isNull: t.boolean({ description: 'true: the value is missing; false: the value is present' }),
  }),
});

export const OrderDirection = builder.enumType('OrderDirection', {
  values: ['ASC', 'DESC'] as const,
});

/** Lower-cases for comparison; empty and missing values are both "missing". */
export function comparable(value: string | null | undefined): string | null {
  if (value == null || value === '') return null;
  return value.toLowerCase();
}

export function matchesString(raw: string | null | undefined, filter: StringFilterShape): boolean {
  const value = comparable(raw);
  if (filter.isNull != null && filter.isNull !== (value === null)) return false;
  if (filter.neq != null && value === filter.neq.toLowerCase()) return false;
  const positive = [filter.eq, filter.in, filter.contains, filter.startsWith, filter.endsWith];
  if (value === null) return positive.every((condition) => condition == null);
  if (filter.eq != null && value !== filter.eq.toLowerCase()) return false;
  if (filter.in != null && !filter.in.some((option) => option.toLowerCase() === value)) return false;
  if (filter.contains != null && !value.includes(filter.contains.toLowerCase())) return false;
  if (filter.startsWith != null && !value.startsWith(filter.startsWith.toLowerCase())) return false;
  if (filter.endsWith != null && !value.endsWith(filter.endsWith.toLowerCase())) return false;
  return true;
}

/**
 * Free-text search: every whitespace-separated term must occur (case-insensitively) in at least one of the
 * fields, so "john smi" finds John Smith although no single field holds both words. A blank search matches all.
 */
export function matchesSearch(search: string, fields: ReadonlyArray<string | null | undefined>): boolean {
  const haystacks = fields.map(comparable).filter((field): field is string => field !== null);
  return search
    .toLowerCase()
    .split(/\s+/)
    .filter((term) => term !== '')
    .every((term) => haystacks.some((field) => field.includes(term)));
}

/** The boolean combinators every filter input carries. */
export interface Combinators<F> {
  and?: readonly F[] | null;
  or?: readonly F[] | null;
  not?: F | null;
}

/** The and / or / not fields of a filter input type (`self`), as `Combinators` reads them. */
export function combinatorFields<F extends Combinators<F>>(
  t: InputFieldBuilder<typeof builder.$inferSchemaTypes, 'InputObject'>,
  self: InputObjectRef<typeof builder.$inferSchemaTypes, F>,
) {
  return {
    and: t.field({ type: [self], description: 'Every one of these holds' }),
    or: t.field({ type: [self], description: 'At least one of these holds' }),
    not: t.field({ type: self, description: 'This does not hold' }),
  };
}

/** Applies and / or / not around `own` (the filter's own conditions), recursively. */
export function matchesCombined<T, F extends Combinators<F>>(
  item: T,
  filter: F,
  own: (item: T, filter: F) => boolean,
): boolean {
  if (!own(item, filter)) return false;
  if (filter.and && !filter.and.every((inner) => matchesCombined(item, inner, own))) return false;
  if (filter.or && filter.or.length > 0 && !filter.or.some((inner) => matchesCombined(item, inner, own))) {
    return false;
  }
  if (filter.not && matchesCombined(item, filter.not, own)) return false;
  return true;
}

/** The items a filter tree keeps (all of them when there is no filter). */
export function filterItems<T, F extends Combinators<F>>(
  items: readonly T[],
  filter: F | null | undefined,
  own: (item: T, filter: F) => boolean,
): readonly T[] {
  return filter ? items.filter((item) => matchesCombined(item, filter, own)) : items;
}

/**
 * Whether any filter in the tree satisfies `test` (e.g. needs the memberships). The demand estimate asks this of a
 * filter as sent, before GraphQL coerces it: a lone filter where `and` / `or` take a list is a list of one.
 */
export function someFilter<F extends Combinators<F>>(
  filter: F | null | undefined,
  test: (f: F) => boolean,
): boolean {
  if (!filter) return false;
  if (test(filter)) return true;
  return (
    listOf(filter.and).some((inner) => someFilter(inner, test)) ||
    listOf(filter.or).some((inner) => someFilter(inner, test)) ||
    someFilter(filter.not, test)
  );
}

function listOf<F>(value: readonly F[] | F | null | undefined): readonly F[] {
  if (value == null) return [];
  return Array.isArray(value) ? value : [value as F];
}
