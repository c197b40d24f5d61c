/**
 * OData 4.01's `in` operator (`deploymentName in ('A','B')`) for @odata/parser, which implements OData 4.0's
 * grammar, where `in` does not exist yet. It is the one construct of the contract's $filter the parser lacks, and
 * no maintained parser on npm both has it and parses the rest correctly (those tried got operator precedence,
 * `$orderby` directions or date literals wrong), so this bridges the gap instead of parsing filters by hand:
 *
 * each `<expr> in (<literal>, ...)` becomes `<expr> eq @inN` — a parameter alias, which OData 4.0's grammar has,
 * in the same place with the same precedence (`in` is a relational operator like `eq`) — and the list's items,
 * each read by the parser's own literal rule, are kept as list N. The filter compiler treats `eq @inN` as "is one
 * of list N". Clients' own aliases are refused, so every alias the parser sees is one of these.
 *
 * The scan only needs to know where string literals are (`'...'`, a quote doubled inside): outside them, OData
 * identifiers never hold white space, so white space, `in` and an opening parenthesis can only be the operator.
 */
import { InputError } from '../errors.ts';
import { type LiteralValue, parseLiteral } from './literals.ts';

export const IN_ALIAS_PREFIX = 'in';

export interface RewrittenFilter {
  text: string;
  lists: LiteralValue[][];
}

/** At most this many values in one `in` list, and lists in one filter: a filter is evaluated on every row. */
export const MAX_IN_VALUES = 1000;
const MAX_LISTS = 100;

const IN_OPERATOR = /\s+in\s*\(/y;

export function rewriteInLists(filter: string): RewrittenFilter {
  const lists: LiteralValue[][] = [];
  let text = '';
  let i = 0;
  while (i < filter.length) {
    const c = filter[i] as string;
    if (c === "'") {
      const end = endOfString(filter, i);
      text += filter.slice(i, end);
      i = end;
      continue;
    }
    if (c === '@') {
      throw new InputError('Parameter aliases (@name) are not supported in $filter: write the value itself');
    }
    IN_OPERATOR.lastIndex = i;
    const operator = IN_OPERATOR.exec(filter);
    if (operator) {
      if (lists.length >= MAX_LISTS) throw new InputError(`At most ${MAX_LISTS} in lists in one $filter`);
      const { items, end } = listAt(filter, i + operator[0].length);
      text += ` eq @${IN_ALIAS_PREFIX}${lists.length}`;
      lists.push(items);
      i = end;
      continue;
    }
    text += c;
    i++;
  }
  return { text, lists };
}

/** The index just past the string literal that opens at `start`. */
function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    if (text[i] === "'") {
      if (text[i + 1] === "'") {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  throw new InputError("A string literal in $filter is not closed: quote strings as in 'text'");
}

/** The literals of the list whose `(` is just before `start`, and the index just past its `)`. */
function listAt(text: string, start: number): { items: LiteralValue[]; end: number } {
  const items: LiteralValue[] = [];
  let item = '';
  let i = start;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === "'") {
      const end = endOfString(text, i);
      item += text.slice(i, end);
      i = end;
      continue;
    }
    if (c === ',' || c === ')') {
      if (item.trim() === '')
        throw new InputError("An in list holds literals separated by commas: in ('a','b')");
      items.push(parseLiteral(item.trim()));
      if (items.length > MAX_IN_VALUES)
        throw new InputError(`At most ${MAX_IN_VALUES} values in one in list`);
      item = '';
      i++;
      if (c === ')') return { items, end: i };
      continue;
    }
    if (c === '(') throw new InputError("An in list holds literals only: in ('a','b')");
    item += c;
    i++;
  }
  throw new InputError("An in list is not closed: in ('a','b')");
}
