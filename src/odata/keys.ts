/**
 * Key lookup: `Users('jane')`, `Memberships(userName='jane',groupName='ADMIN')`,
 * `DeploymentExecutions(deploymentName='ASOALL',executionId='42')`, the predicate read by @odata/parser. Names
 * match as EPMware matches them, case-insensitively (the entity comes back spelled as EPMware spells it); other
 * key values match exactly.
 */
import { defaultParser } from '@odata/parser';
import { nameKey } from '../directory.ts';
import { InputError } from '../errors.ts';
import type { Row } from './filter.ts';
import { literalValue, type ParsedToken } from './literals.ts';
import type { EntitySet } from './model.ts';

export interface KeyLookup {
  matches(row: Row): boolean;
  /** The value of the set's required name filter, when the key gives it (an execution's configuration). */
  pinned: string[] | undefined;
}

export function keyLookup(set: EntitySet, predicate: string): KeyLookup {
  let parsed: ParsedToken;
  try {
    parsed = defaultParser.keys(predicate) as ParsedToken;
  } catch {
    throw new InputError(`The key ${predicate.slice(0, 80)} does not parse: write ${example(set)}`);
  }
  const values = new Map<string, string>();
  if (parsed.type === 'SimpleKey') {
    if (set.keys.length !== 1)
      throw new InputError(`${set.name} has a key of ${set.keys.length} parts: write ${example(set)}`);
    values.set(set.keys[0] as string, keyText((parsed.value as { value: ParsedToken }).value, set));
  } else {
    for (const pair of parsed.value as ParsedToken[]) {
      const { key, value } = pair.value as { key: ParsedToken; value: ParsedToken };
      const name = (key.value as { name?: unknown }).name;
      if (typeof name !== 'string' || !set.keys.includes(name) || values.has(name)) {
        throw new InputError(`The key of ${set.name} is ${set.keys.join(', ')}: write ${example(set)}`);
      }
      values.set(name, keyText(value, set));
    }
  }
  if (values.size !== set.keys.length)
    throw new InputError(`The key of ${set.name} is ${set.keys.join(', ')}: write ${example(set)}`);
  const wanted = [...values].map(([name, value]) => {
    const byName = set.nameKeys.includes(name);
    return { name, value: byName ? nameKey(value) : value, byName };
  });
  return {
    matches: (row) =>
      wanted.every(({ name, value, byName }) => {
        const actual = row[name];
        return typeof actual === 'string' && (byName ? nameKey(actual) === value : actual === value);
      }),
    pinned:
      set.requiredFilter && values.has(set.requiredFilter)
        ? [values.get(set.requiredFilter) as string]
        : undefined,
  };
}

/** A key value: a string literal (numbers are accepted for an execution id, which is an Edm.String). */
function keyText(token: ParsedToken, set: EntitySet): string {
  // The parser's key value token has the literal's Edm type as its value and its text as raw.
  const literal = literalValue({ type: 'Literal', raw: token.raw, value: token.value });
  if (typeof literal.value === 'string') return literal.value;
  if (typeof literal.value === 'number') return String(literal.value);
  throw new InputError(`Key values of ${set.name} are strings: write ${example(set)}`);
}

function example(set: EntitySet): string {
  return set.keys.length === 1
    ? `${set.name}('...')`
    : `${set.name}(${set.keys.map((key) => `${key}='...'`).join(',')})`;
}
