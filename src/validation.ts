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

/** Contract ("Ids and names"): the longest id or name sent to EPMware. */
export const MAX_ID_OR_NAME_CHARACTERS = 256;
/** Percent-decoding rounds tried: an id that only becomes `..` or `a/b` after several is refused too. */
const DECODE_ROUNDS = 3;
/** What no id or name may hold: a path separator (either), or a control character (C0, DEL, C1). */
const FORBIDDEN_CHARACTER = /[/\\\p{Cc}]/u;

/** Enough of a refused value to recognise it: a 60 KB id is not echoed back whole. */
function shown(value: string): string {
  const head = [...value].slice(0, 40).join('');
  return JSON.stringify(head.length < value.length ? `${head}…` : head);
}

/**
 * An id or name that EPMware receives (task and export ids, user, group, deployment, export, book and ERP names):
 * 1 to 256 characters, not blank, no `/`, `\` or control character, and not `.` or `..`, also once
 * percent-decoded (`%2F`, `..%2f..%2f`, `%252e%252e`). Placed in a path, such a value could name another endpoint
 * (a proxy that decodes `%2F` routes the call elsewhere; `..` is normalised away); oversized, it makes EPMware's
 * front door reset the connection, which must never look like an outage (upstream/breaker.ts). Spaces, dots
 * inside, `@` (user names are e-mails) and any non-ASCII letter are fine. Returned as given; throws
 * BAD_USER_INPUT, before any upstream call. The one check: the schema's arguments and upstream/epmware.ts (every
 * path, query and body it builds) both call it.
 */
export function idOrName(value: string, argument: string): string {
  const length = characters(value);
  if (length > MAX_ID_OR_NAME_CHARACTERS) {
    throw new InputError(
      `${argument} may be at most ${MAX_ID_OR_NAME_CHARACTERS} characters, got ${length}: ${shown(value)}`,
    );
  }
  let current = value;
  for (let round = 0; ; round++) {
    if (current.trim() === '' || current === '.' || current === '..') {
      throw new InputError(`${argument} must be a name or id, not ${shown(value)}`);
    }
    if (FORBIDDEN_CHARACTER.test(current)) {
      throw new InputError(
        `${argument} must not contain "/", "\\" or control characters${round > 0 ? ' (once decoded)' : ''}: ${shown(value)}`,
      );
    }
    if (round === DECODE_ROUNDS) break;
    let decoded: string;
    try {
      decoded = decodeURIComponent(current);
    } catch {
      // Not percent-encoding at all ("50% off"): taken as written.
      break;
    }
    if (decoded === current) break;
    current = decoded;
  }
  return value;
}

/** idOrName for a list of them (groupNames). */
export function idsOrNames(values: readonly string[], argument: string): readonly string[] {
  values.forEach((value, index) => {
    idOrName(value, `${argument}[${index}]`);
  });
  return values;
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
