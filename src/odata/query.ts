/**
 * A request's system query options, parsed by @odata/parser and checked against the entity set before anything
 * reaches EPMware: an unknown option or property, a bad $top, a filter that does not parse or mixes types is
 * BAD_USER_INPUT (400); `$expand` and `$search` are refused as not implemented (501). Custom options (names
 * without `$`) are ignored, as OData says.
 */
import { defaultParser } from '@odata/parser';
import { InputError } from '../errors.ts';
import { type CompiledFilter, compileFilter, propertyName } from './filter.ts';
import type { ParsedToken } from './literals.ts';
import type { EdmProperty, EntitySet } from './model.ts';
import { NotImplemented } from './refusals.ts';

export interface OrderKey {
  property: EdmProperty;
  descending: boolean;
}

export interface QueryPlan {
  /** The properties each entity carries ($select, or all). */
  select: readonly EdmProperty[];
  /** Whether $select named a subset (the context URL then lists it). */
  selected: boolean;
  filter: CompiledFilter | undefined;
  orderBy: readonly OrderKey[];
  top: number | undefined;
  skip: number;
  count: boolean;
  skipToken: string | undefined;
  /** The options as the client sent them (decoded), for the next page's link. */
  raw: ReadonlyMap<string, string>;
}

const KNOWN = new Set([
  '$select',
  '$filter',
  '$orderby',
  '$top',
  '$skip',
  '$count',
  '$skiptoken',
  '$format',
  '$expand',
  '$search',
]);

const MAX_ORDER_KEYS = 8;

/** The options of one request. Names are matched case-sensitively, with or without `$` as 4.01 allows. */
export function parseQuery(search: URLSearchParams, set: EntitySet): QueryPlan {
  const raw = new Map<string, string>();
  for (const [rawName, value] of search) {
    const name = rawName.startsWith('$') ? rawName : KNOWN.has(`$${rawName}`) ? `$${rawName}` : rawName;
    if (!name.startsWith('$')) continue;
    if (!KNOWN.has(name)) {
      throw new InputError(
        `${name.slice(0, 40)} is not a query option this feed knows: use ${[...KNOWN].filter((o) => o !== '$expand' && o !== '$search').join(', ')}`,
      );
    }
    if (raw.has(name)) throw new InputError(`${name} is given twice`);
    raw.set(name, value);
  }
  if (raw.has('$expand')) {
    throw new NotImplemented(
      '$expand is not supported: read Memberships (userName, groupName) and relate it to Users and Groups',
    );
  }
  if (raw.has('$search')) throw new NotImplemented('$search is not supported: use $filter with contains()');
  const format = raw.get('$format');
  if (format !== undefined && !/^(json|application\/json)(;.*)?$/i.test(format)) {
    throw new InputError('$format must be json: the feed answers OData JSON only');
  }

  const selection = select(raw.get('$select'), set);
  const filterText = raw.get('$filter');
  return {
    select: selection ?? set.properties,
    selected: selection !== undefined,
    filter:
      filterText === undefined || filterText.trim() === ''
        ? undefined
        : compileFilter(filterText, set, (text) => defaultParser.filter(text) as ParsedToken),
    orderBy: orderBy(raw.get('$orderby'), set),
    top: wholeNumber(raw.get('$top'), '$top'),
    skip: wholeNumber(raw.get('$skip'), '$skip') ?? 0,
    count: booleanOption(raw.get('$count'), '$count'),
    skipToken: raw.get('$skiptoken'),
    raw,
  };
}

/** The option's tokens as @odata/parser reads `<name>=<value>`: a syntax error is the client's. */
function parsedOption(name: string, value: string): ParsedToken {
  let parsed: ParsedToken;
  try {
    parsed = defaultParser.query(`${name}=${value}`) as ParsedToken;
  } catch {
    throw new InputError(`${name} does not parse: ${value.slice(0, 80)}`);
  }
  const option = (parsed.value as { options?: ParsedToken[] }).options?.[0];
  if (!option) throw new InputError(`${name} does not parse: ${value.slice(0, 80)}`);
  return option;
}

function select(value: string | undefined, set: EntitySet): EdmProperty[] | undefined {
  if (value === undefined || value.trim() === '' || value.trim() === '*') return undefined;
  const items = (parsedOption('$select', value).value as { items?: ParsedToken[] }).items ?? [];
  const names = new Set<string>();
  for (const item of items) {
    if (item.raw === '*') return undefined;
    names.add(item.raw);
  }
  for (const name of names) {
    if (!set.byName.has(name)) {
      throw new InputError(
        `$select: ${set.name} has no property ${name.slice(0, 80)}; its properties: ${set.properties.map((p) => p.name).join(', ')}`,
      );
    }
  }
  // In the model's order, whatever order $select named them in: columns stay where $metadata puts them.
  return set.properties.filter((property) => names.has(property.name));
}

function orderBy(value: string | undefined, set: EntitySet): OrderKey[] {
  if (value === undefined || value.trim() === '') return [];
  const items = (parsedOption('$orderby', value).value as { items?: ParsedToken[] }).items ?? [];
  if (items.length > MAX_ORDER_KEYS)
    throw new InputError(`$orderby takes at most ${MAX_ORDER_KEYS} properties`);
  return items.map((item) => {
    const { expr, direction } = item.value as { expr: ParsedToken; direction: number };
    const name = propertyName(expr);
    const property = name === undefined ? undefined : set.byName.get(name);
    if (!property) {
      throw new InputError(
        `$orderby: ${expr.raw.slice(0, 80)} is not a property of ${set.name}; its properties: ${set.properties.map((p) => p.name).join(', ')}`,
      );
    }
    return { property, descending: direction < 0 };
  });
}

function wholeNumber(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value.trim())) throw new InputError(`${name} must be a whole number from 0`);
  return Number(value.trim());
}

function booleanOption(value: string | undefined, name: string): boolean {
  if (value === undefined) return false;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InputError(`${name} must be true or false`);
}
