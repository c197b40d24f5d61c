/**
 * $filter: @odata/parser's syntax tree compiled into a predicate over rows, checked against the entity set's
 * properties first, so a filter naming an unknown property, comparing a string with a number or calling an
 * unsupported function is BAD_USER_INPUT before any upstream call.
 *
 * Operators (the contract's, which are also the iDempiere REST conventions': eq ne gt ge lt le and or not, contains
 * startswith endswith tolower toupper, parentheses) plus 4.01's `in` (see in-lists.ts). Comparisons are
 * case-sensitive, as OData says (tolower for the rest). A comparison with a null value is false except `eq null`
 * and `ne null`; an ordering comparison of two instants compares the instants, not their text.
 */
import { InputError } from '../errors.ts';
import { IN_ALIAS_PREFIX, rewriteInLists } from './in-lists.ts';
import { type LiteralValue, literalValue, type ParsedToken, type ValueType } from './literals.ts';
import type { EdmProperty, EdmType, EntitySet } from './model.ts';

export type Row = Readonly<Record<string, unknown>>;
type Scalar = string | number | boolean | null;

interface Compiled {
  type: ValueType;
  /** The property it reads, when it is one (for the name-filter analysis and messages). */
  property?: string;
  evaluate(row: Row): Scalar;
}

export type Predicate = (row: Row) => boolean;

export interface CompiledFilter {
  predicate: Predicate;
  /** The root of the parsed tree, for the required-name analysis. */
  tree: ParsedToken;
  lists: readonly LiteralValue[][];
}

const SUPPORTED =
  'eq ne gt ge lt le in and or not, contains startswith endswith tolower toupper, and parentheses';

export function valueTypeOf(type: EdmType): ValueType {
  switch (type) {
    case 'Edm.Boolean':
      return 'boolean';
    case 'Edm.Int32':
    case 'Edm.Int64':
    case 'Edm.Double':
      return 'number';
    case 'Edm.DateTimeOffset':
      return 'instant';
    default:
      return 'string';
  }
}

/** A row's value of a property, as filters and ordering compare it (instants as epoch milliseconds). */
export function comparable(property: EdmProperty, row: Row): Scalar {
  const value = row[property.name];
  if (value === null || value === undefined) return null;
  if (property.type === 'Edm.DateTimeOffset') {
    const at = Date.parse(String(value));
    return Number.isFinite(at) ? at : null;
  }
  return value as Scalar;
}

export function compileFilter(
  text: string,
  set: EntitySet,
  parse: (text: string) => ParsedToken,
): CompiledFilter {
  const { text: rewritten, lists } = rewriteInLists(text);
  let tree: ParsedToken;
  try {
    tree = parse(rewritten);
  } catch (error) {
    const at = /at (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
    throw new InputError(
      `$filter does not parse${at ? ` near character ${Number(at) + 1}` : ''}; it may use ${SUPPORTED}`,
    );
  }
  tree = withNotBindingTightly(tree);
  const compiled = new FilterCompiler(set, lists).compile(tree);
  if (compiled.type !== 'boolean') throw new InputError('$filter must be a condition (true or false)');
  return { predicate: (row) => compiled.evaluate(row) === true, tree, lists };
}

/**
 * @odata/parser reads `not A and B` as `not (A and B)`; OData's precedence table binds `not` tighter than `and` and
 * `or` (and the parser already ranks `and` above `or`), so an unparenthesized and/or under a `not` is rotated:
 * `not (A op B)` -> `(not A) op B`, down the left spine. Parenthesized operands (`not (A and B)`) stay as written.
 */
function withNotBindingTightly(token: ParsedToken): ParsedToken {
  const value = token.value as { left?: ParsedToken; right?: ParsedToken } | ParsedToken | null;
  switch (token.type) {
    case 'AndExpression':
    case 'OrExpression': {
      const { left, right } = value as { left: ParsedToken; right: ParsedToken };
      return { ...token, value: { left: withNotBindingTightly(left), right: withNotBindingTightly(right) } };
    }
    case 'BoolParenExpression':
    case 'CommonExpression':
      return { ...token, value: withNotBindingTightly(value as ParsedToken) };
    case 'NotExpression': {
      const operand = value as ParsedToken;
      if (operand.type === 'AndExpression' || operand.type === 'OrExpression') {
        const { left, right } = operand.value as { left: ParsedToken; right: ParsedToken };
        return withNotBindingTightly({
          ...operand,
          value: { left: { ...token, value: left, raw: `not ${left.raw}` }, right },
        });
      }
      return { ...token, value: withNotBindingTightly(operand) };
    }
    default:
      return token;
  }
}

class FilterCompiler {
  constructor(
    private readonly set: EntitySet,
    private readonly lists: readonly LiteralValue[][],
  ) {}

  compile(token: ParsedToken): Compiled {
    const value = token.value as Record<string, unknown> | null;
    switch (token.type) {
      case 'CommonExpression':
      case 'BoolParenExpression':
      case 'ParenExpression':
        return this.compile(inner(token));
      case 'Literal':
        return constant(literalValue(token));
      case 'FirstMemberExpression':
        return this.property(token);
      case 'AndExpression':
      case 'OrExpression':
        return this.logical(token.type, value);
      case 'NotExpression': {
        const operand = this.compile(inner(token));
        this.expectBoolean(operand, 'not');
        return { type: 'boolean', evaluate: (row) => operand.evaluate(row) !== true };
      }
      case 'EqualsExpression':
      case 'NotEqualsExpression':
        return this.equality(token.type === 'EqualsExpression', value);
      case 'LesserThanExpression':
      case 'LesserOrEqualsExpression':
      case 'GreaterThanExpression':
      case 'GreaterOrEqualsExpression':
        return this.ordering(token.type, value);
      case 'MethodCallExpression':
        return this.method(value);
      default:
        throw new InputError(`${describe(token)} is not supported in $filter; it may use ${SUPPORTED}`);
    }
  }

  private property(token: ParsedToken): Compiled {
    const name = propertyName(token);
    if (name === undefined) {
      throw new InputError(
        `${token.raw.slice(0, 80)} is not a property of ${this.set.name}: paths are not supported`,
      );
    }
    const property = this.set.byName.get(name);
    if (!property) {
      throw new InputError(
        `${this.set.name} has no property ${name}; its properties: ${this.set.properties.map((p) => p.name).join(', ')}`,
      );
    }
    return { type: valueTypeOf(property.type), property: name, evaluate: (row) => comparable(property, row) };
  }

  private logical(type: string, value: Record<string, unknown> | null): Compiled {
    const [left, right] = this.operands(value);
    const word = type === 'AndExpression' ? 'and' : 'or';
    this.expectBoolean(left, word);
    this.expectBoolean(right, word);
    return type === 'AndExpression'
      ? { type: 'boolean', evaluate: (row) => left.evaluate(row) === true && right.evaluate(row) === true }
      : { type: 'boolean', evaluate: (row) => left.evaluate(row) === true || right.evaluate(row) === true };
  }

  private equality(equals: boolean, value: Record<string, unknown> | null): Compiled {
    const rightToken = value?.right as ParsedToken | undefined;
    if (rightToken?.type === 'ParameterAlias') return this.membership(value);
    const [left, right] = this.operands(value);
    this.expectComparable(left, right, equals ? 'eq' : 'ne');
    return {
      type: 'boolean',
      evaluate: (row) => (left.evaluate(row) === right.evaluate(row)) === equals,
    };
  }

  /** `x eq @inN`: in-lists.ts' rewrite of `x in (...)`. */
  private membership(value: Record<string, unknown> | null): Compiled {
    const right = value?.right as ParsedToken;
    const alias = (right.value as { name?: unknown }).name;
    const index = typeof alias === 'string' ? Number(alias.slice(IN_ALIAS_PREFIX.length)) : Number.NaN;
    const list = this.lists[index];
    if (!list) throw new InputError('Parameter aliases (@name) are not supported in $filter');
    const left = this.compile(value?.left as ParsedToken);
    for (const item of list) this.expectComparable(left, constant(item), 'in');
    const members = new Set(list.map((item) => item.value));
    return { type: 'boolean', evaluate: (row) => members.has(left.evaluate(row)) };
  }

  private ordering(type: string, value: Record<string, unknown> | null): Compiled {
    const [left, right] = this.operands(value);
    const word = ORDERING_WORDS[type] ?? type;
    this.expectComparable(left, right, word);
    if (left.type === 'boolean' || right.type === 'boolean') {
      throw new InputError(`${word} compares strings, numbers and dates, not true/false`);
    }
    const holds = ORDERINGS[type] as (a: string | number, b: string | number) => boolean;
    return {
      type: 'boolean',
      evaluate: (row) => {
        const a = left.evaluate(row);
        const b = right.evaluate(row);
        if (a === null || b === null || typeof a === 'boolean' || typeof b === 'boolean') return false;
        return holds(a, b);
      },
    };
  }

  private method(value: Record<string, unknown> | null): Compiled {
    const name = String(value?.method ?? '');
    const parameters = ((value?.parameters as ParsedToken[] | undefined) ?? []).map((p) => this.compile(p));
    const strings = (count: number) => {
      if (parameters.length !== count || parameters.some((p) => p.type !== 'string' && p.type !== 'null')) {
        throw new InputError(`${name}() takes ${count === 1 ? 'a string' : 'two strings'}`);
      }
    };
    const [first, second] = parameters as [Compiled, Compiled];
    const text = (compiled: Compiled, row: Row) => {
      const v = compiled.evaluate(row);
      return typeof v === 'string' ? v : null;
    };
    switch (name) {
      case 'contains':
      case 'startswith':
      case 'endswith': {
        strings(2);
        const test = STRING_TESTS[name] as (a: string, b: string) => boolean;
        return {
          type: 'boolean',
          evaluate: (row) => {
            const a = text(first, row);
            const b = text(second, row);
            return a !== null && b !== null && test(a, b);
          },
        };
      }
      case 'tolower':
      case 'toupper': {
        strings(1);
        const lower = name === 'tolower';
        return {
          type: 'string',
          evaluate: (row) => {
            const a = text(first, row);
            return a === null ? null : lower ? a.toLowerCase() : a.toUpperCase();
          },
        };
      }
      default:
        throw new InputError(`The function ${name}() is not supported in $filter; it may use ${SUPPORTED}`);
    }
  }

  private operands(value: Record<string, unknown> | null): [Compiled, Compiled] {
    return [this.compile(value?.left as ParsedToken), this.compile(value?.right as ParsedToken)];
  }

  private expectBoolean(operand: Compiled, word: string): void {
    if (operand.type !== 'boolean') throw new InputError(`${word} joins conditions (true or false)`);
  }

  private expectComparable(left: Compiled, right: Compiled, word: string): void {
    if (left.type === 'null' || right.type === 'null' || left.type === right.type) return;
    const what = (side: Compiled) => (side.property ? `${side.property} (${side.type})` : `a ${side.type}`);
    throw new InputError(`${word} cannot compare ${what(left)} with ${what(right)}`);
  }
}

const ORDERING_WORDS: Record<string, string> = {
  LesserThanExpression: 'lt',
  LesserOrEqualsExpression: 'le',
  GreaterThanExpression: 'gt',
  GreaterOrEqualsExpression: 'ge',
};

const ORDERINGS: Record<string, (a: string | number, b: string | number) => boolean> = {
  LesserThanExpression: (a, b) => a < b,
  LesserOrEqualsExpression: (a, b) => a <= b,
  GreaterThanExpression: (a, b) => a > b,
  GreaterOrEqualsExpression: (a, b) => a >= b,
};

const STRING_TESTS: Record<string, (a: string, b: string) => boolean> = {
  contains: (a, b) => a.includes(b),
  startswith: (a, b) => a.startsWith(b),
  endswith: (a, b) => a.endsWith(b),
};

function constant(literal: LiteralValue): Compiled {
  return { type: literal.type, evaluate: () => literal.value };
}

function inner(token: ParsedToken): ParsedToken {
  return token.value as ParsedToken;
}

/** The name of a plain property reference (FirstMemberExpression > MemberExpression > PropertyPathExpression). */
export function propertyName(token: ParsedToken): string | undefined {
  let current: ParsedToken | undefined = token;
  for (let depth = 0; current && depth < 6; depth++) {
    if (current.type === 'ODataIdentifier') {
      const name = (current.value as { name?: unknown }).name;
      return typeof name === 'string' ? name : undefined;
    }
    if (
      !['FirstMemberExpression', 'MemberExpression', 'PropertyPathExpression', 'CommonExpression'].includes(
        current.type,
      )
    ) {
      return undefined;
    }
    const value = current.value as ParsedToken | { current?: unknown } | null;
    current = value && typeof value === 'object' && 'type' in value ? value : undefined;
  }
  return undefined;
}

function describe(token: ParsedToken): string {
  const name = token.type
    .replace(/Expression$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase();
  return `${name} (${token.raw.slice(0, 60)})`;
}

/**
 * The names a filter pins `property` to: the values of an `eq` or `in` on it (or an `or` of such) that every
 * matching row must satisfy, found among the filter's top-level `and` conditions. Undefined when it pins none.
 */
export function pinnedValues(filter: CompiledFilter, property: string): string[] | undefined {
  for (const condition of conjuncts(filter.tree)) {
    const values = pinsOf(condition, property, filter.lists);
    if (values) return values;
  }
  return undefined;
}

function conjuncts(token: ParsedToken): ParsedToken[] {
  if (token.type === 'BoolParenExpression' || token.type === 'CommonExpression')
    return conjuncts(inner(token));
  if (token.type === 'AndExpression') {
    const value = token.value as { left: ParsedToken; right: ParsedToken };
    return [...conjuncts(value.left), ...conjuncts(value.right)];
  }
  return [token];
}

function pinsOf(
  token: ParsedToken,
  property: string,
  lists: readonly LiteralValue[][],
): string[] | undefined {
  if (token.type === 'BoolParenExpression' || token.type === 'CommonExpression') {
    return pinsOf(inner(token), property, lists);
  }
  const value = token.value as { left?: ParsedToken; right?: ParsedToken } | null;
  if (token.type === 'OrExpression' && value?.left && value.right) {
    const left = pinsOf(value.left, property, lists);
    const right = pinsOf(value.right, property, lists);
    return left && right ? [...left, ...right] : undefined;
  }
  if (token.type !== 'EqualsExpression' || !value?.left || !value.right) return undefined;
  const [named, other] =
    propertyName(value.left) === property
      ? [value.left, value.right]
      : propertyName(value.right) === property
        ? [value.right, value.left]
        : [undefined, undefined];
  if (!named || !other) return undefined;
  if (other.type === 'ParameterAlias') {
    const alias = (other.value as { name?: unknown }).name;
    const list = typeof alias === 'string' ? lists[Number(alias.slice(IN_ALIAS_PREFIX.length))] : undefined;
    return list?.every((item) => typeof item.value === 'string')
      ? list.map((item) => item.value as string)
      : undefined;
  }
  if (other.type === 'Literal') {
    const literal = literalValue(other);
    return typeof literal.value === 'string' ? [literal.value] : undefined;
  }
  return undefined;
}
