/**
 * Argument rules checked before any upstream call: a broken argument is the client's mistake (BAD_USER_INPUT), and
 * EPMware should never see a request it would refuse anyway. Hand-written rather than @pothos/plugin-validation:
 * the rules are a handful of domain checks (one character, exactly one of two names) whose failure must be the
 * contract's InputError, and the plugin would bring a schema library and a second error path to map.
 */
import { InputError } from './errors.ts';

/** EPMware's own default is 60; a day is the longest run anyone schedules. */
export const TIMEOUT_MIN_RANGE = { min: 1, max: 1440 } as const;
/** As the exto360 bulk endpoints: at most 1000 users per request. */
export const MAX_BULK_USERS = 1000;

/** A required text argument: present and not blank; returned trimmed. */
export function requiredText(value: string | null | undefined, argument: string): string {
  const trimmed = value?.trim() ?? '';
  if (trimmed === '') throw new InputError(`${argument} must not be blank`);
  return trimmed;
}

/** An optional text argument: absent stays absent, but a blank value is refused rather than sent. */
export function optionalText(value: string | null | undefined, argument: string): string | undefined {
  return value == null ? undefined : requiredText(value, argument);
}

// Deliberately loose (something@domain.tld, no spaces): EPMware decides what it accepts, this only catches typos.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function email(value: string, argument = 'email'): string {
  const trimmed = requiredText(value, argument);
  if (!EMAIL.test(trimmed)) throw new InputError(`${argument} is not an email address: "${trimmed}"`);
  return trimmed;
}

export function timeoutMin(value: number | null | undefined): number | undefined {
  if (value == null) return undefined;
  const { min, max } = TIMEOUT_MIN_RANGE;
  if (value < min || value > max) {
    throw new InputError(`timeoutMin must be between ${min} and ${max} minutes, got ${value}`);
  }
  return value;
}

/** Counted in characters (code points), so a tab or a "§" is one. */
function characters(value: string): number {
  return [...value].length;
}

export function singleCharacter(value: string, argument: string): string {
  if (characters(value) !== 1) {
    throw new InputError(`${argument} must be exactly one character, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** At most one character; an empty string counts as not given. */
export function optionalCharacter(value: string | null | undefined, argument: string): string | undefined {
  if (value == null || value === '') return undefined;
  if (characters(value) > 1) {
    throw new InputError(`${argument} must be at most one character, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Exactly one of two alternative arguments, e.g. runExport's name and bookName. */
export function exactlyOne<A extends string, B extends string>(
  first: { argument: A; value: string | null | undefined },
  second: { argument: B; value: string | null | undefined },
): { argument: A | B; value: string } {
  const given = [first, second].filter((option) => option.value != null);
  if (given.length !== 1) {
    throw new InputError(`Give exactly one of ${first.argument} and ${second.argument}`);
  }
  const [chosen] = given as [{ argument: A | B; value: string }];
  return { argument: chosen.argument, value: requiredText(chosen.value, chosen.argument) };
}

/** A non-empty list of names, none blank, at most `max`; returned trimmed. */
export function nameList(values: readonly string[], argument: string, max = MAX_BULK_USERS): string[] {
  if (values.length === 0) throw new InputError(`${argument} must name at least one`);
  if (values.length > max) throw new InputError(`${argument} may name at most ${max}, got ${values.length}`);
  return values.map((value, index) => requiredText(value, `${argument}[${index}]`));
}
