/**
 * OData primitive literals, as @odata/parser recognises them (a `Literal` token: its Edm type and raw text), turned
 * into the values filters compare: strings, numbers, booleans, instants (epoch milliseconds) and null.
 */
import { defaultParser } from '@odata/parser';
import { InputError } from '../errors.ts';

/** What a filter expression evaluates to. Instants are epoch milliseconds. */
export type ValueType = 'string' | 'number' | 'boolean' | 'instant' | 'null';

export interface LiteralValue {
  type: ValueType;
  value: string | number | boolean | null;
}

/** The token shape @odata/parser produces (its own type says `value: any`). */
export interface ParsedToken {
  type: string;
  raw: string;
  value: unknown;
}

const NUMBER_TYPES = new Set([
  'Edm.SByte',
  'Edm.Byte',
  'Edm.Int16',
  'Edm.Int32',
  'Edm.Int64',
  'Edm.Decimal',
  'Edm.Double',
  'Edm.Single',
]);

/** The value of a Literal token; a literal of a type no property here has (a Guid, a duration) is refused. */
export function literalValue(token: ParsedToken): LiteralValue {
  const edm = typeof token.value === 'string' ? token.value : '';
  const raw = token.raw;
  if (edm === 'null') return { type: 'null', value: null };
  if (edm === 'Edm.String') return { type: 'string', value: raw.slice(1, -1).replace(/''/g, "'") };
  if (edm === 'Edm.Boolean') return { type: 'boolean', value: raw.toLowerCase() === 'true' };
  if (NUMBER_TYPES.has(edm)) {
    const value = Number(raw.replace(/[dDfFmMlL]$/, ''));
    if (Number.isFinite(value)) return { type: 'number', value };
  }
  if (edm === 'Edm.DateTimeOffset' || edm === 'Edm.Date') {
    // A date alone is its midnight, UTC.
    const value = Date.parse(edm === 'Edm.Date' ? `${raw}T00:00:00Z` : raw);
    if (Number.isFinite(value)) return { type: 'instant', value };
  }
  throw new InputError(`The literal ${raw.slice(0, 80)} (${edm || 'unknown type'}) is not supported here`);
}

/** One literal from its text, e.g. an item of an `in` list: `'jane'`, `42`, `2024-01-01T00:00:00Z`. */
export function parseLiteral(text: string): LiteralValue {
  let token: ParsedToken;
  try {
    token = defaultParser.literal(text) as ParsedToken;
  } catch {
    throw new InputError(`${text.slice(0, 80)} is not an OData literal (a string is quoted: 'text')`);
  }
  return literalValue(token);
}
