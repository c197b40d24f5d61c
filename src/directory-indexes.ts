/**
 * What the directory derives from EPMware's security lists — the by-name index, the memberships inverted both ways,
 * the mentions fields hand out — computed once per upstream answer, not once per request.
 *
 * The upstream client hands out one frozen parsed value per cached answer (upstream/parsed-answers.ts), so a
 * WeakMap keyed by that value memoizes what is derived from it for exactly as long as the answer is cached: no size
 * of its own to bound, no eviction of its own, and nothing crosses credentials, since cached answers never do.
 * Everything returned here is frozen too: requests share it.
 */
import type { EpmGroupMembers } from './upstream/types.ts';

/** The key a user or group name is matched by, across every endpoint. */
export function nameKey(name: string): string {
  return name.trim().toLowerCase();
}

/**
 * A name EPMware gave somewhere other than the users or groups list (a group's members, a user's groups), spelled
 * as it gave it, with its key computed once.
 */
export interface Mention {
  readonly mentionedAs: string;
  readonly key: string;
}

export function mention(name: string): Mention {
  return Object.freeze({ mentionedAs: name, key: nameKey(name) });
}

export interface Index<T> {
  list: readonly T[];
  byKey: ReadonlyMap<string, T>;
}

export interface Memberships {
  /** group key -> member user keys */
  usersByGroup: ReadonlyMap<string, readonly string[]>;
  /** user key -> group keys */
  groupsByUser: ReadonlyMap<string, readonly string[]>;
  /** user key -> the user's group names as spelled, by name */
  groupNamesByUser: ReadonlyMap<string, readonly string[]>;
  /** group key -> the member names as spelled, in EPMware's order */
  memberNamesByGroup: ReadonlyMap<string, readonly string[]>;
  /** groupNamesByUser as mentions: a nested query hands out these shared objects instead of allocating its own. */
  groupMentionsByUser: ReadonlyMap<string, readonly Mention[]>;
  /** memberNamesByGroup as mentions. */
  memberMentionsByGroup: ReadonlyMap<string, readonly Mention[]>;
}

export const NO_MENTIONS: readonly Mention[] = Object.freeze([]);

const indexes = new WeakMap<readonly unknown[], Index<unknown>>();
const inversions = new WeakMap<readonly EpmGroupMembers[], Memberships>();

/** The list indexed by nameKey(name(item)); the same object for the same (parsed, cached) list. */
export function indexOf<T>(list: readonly T[], name: (item: T) => string): Index<T> {
  const known = indexes.get(list) as Index<T> | undefined;
  if (known) return known;
  const index: Index<T> = Object.freeze({
    list,
    byKey: new Map(list.map((item) => [nameKey(name(item)), item])),
  });
  indexes.set(list, index);
  return index;
}

/** `GET /security/groups/users` (every group with its members) inverted into both directions, once per answer. */
export function membershipsOf(entries: readonly EpmGroupMembers[]): Memberships {
  let memberships = inversions.get(entries);
  if (!memberships) {
    memberships = invert(entries);
    inversions.set(entries, memberships);
  }
  return memberships;
}

function invert(entries: readonly EpmGroupMembers[]): Memberships {
  const usersByGroup = new Map<string, string[]>();
  const groupsByUser = new Map<string, string[]>();
  const memberNamesByGroup = new Map<string, string[]>();
  const groupSpelling = new Map<string, string>();
  for (const entry of entries) {
    const groupKey = nameKey(entry.groupName);
    groupSpelling.set(groupKey, entry.groupName);
    const members = new Map<string, string>();
    for (const member of entry.users) {
      const userKey = nameKey(member);
      if (!members.has(userKey)) members.set(userKey, member);
    }
    usersByGroup.set(groupKey, [...members.keys()]);
    memberNamesByGroup.set(groupKey, [...members.values()]);
    for (const member of members.keys()) {
      const groups = groupsByUser.get(member);
      if (groups) groups.push(groupKey);
      else groupsByUser.set(member, [groupKey]);
    }
  }
  const groupNamesByUser = new Map<string, string[]>();
  for (const [userKey, groupKeys] of groupsByUser) {
    groupKeys.sort();
    groupNamesByUser.set(
      userKey,
      groupKeys.map((groupKey) => groupSpelling.get(groupKey) ?? groupKey),
    );
  }
  // One mention per distinct spelling, shared by every list that names it.
  const mentions = new Map<string, Mention>();
  const mentionsOf = (names: readonly string[]): readonly Mention[] =>
    Object.freeze(
      names.map((name) => {
        let found = mentions.get(name);
        if (!found) {
          found = mention(name);
          mentions.set(name, found);
        }
        return found;
      }),
    );
  const groupMentionsByUser = new Map<string, readonly Mention[]>();
  for (const [userKey, names] of groupNamesByUser) groupMentionsByUser.set(userKey, mentionsOf(names));
  const memberMentionsByGroup = new Map<string, readonly Mention[]>();
  for (const [groupKey, names] of memberNamesByGroup) memberMentionsByGroup.set(groupKey, mentionsOf(names));
  return Object.freeze({
    usersByGroup,
    groupsByUser,
    groupNamesByUser,
    memberNamesByGroup,
    groupMentionsByUser,
    memberMentionsByGroup,
  });
}
