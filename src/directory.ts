/**
 * One request's view of EPMware's security data. EPMware lists users, groups and memberships only whole, so each
 * list is fetched at most once per request (and per credential, since a context has one) and indexed by name
 * case-insensitively: the upstream spells the same user `john.smith` in the users list and `JOHN.SMITH` in a group.
 *
 * Everything the read graph knows about users and groups goes through here, so a mutation's `forget()` is enough
 * for every later field of the same request to see the change.
 */
import DataLoader from 'dataloader';
import {
  type Index,
  indexOf,
  type Memberships,
  type Mention,
  membershipsOf,
  NO_MENTIONS,
  nameKey,
} from './directory-indexes.ts';
import { GatewayError } from './errors.ts';
import type { Epmware } from './upstream/epmware.ts';
import type { EpmGroup, EpmUser } from './upstream/types.ts';

export { type Index, type Memberships, type Mention, mention, nameKey } from './directory-indexes.ts';

/**
 * A user's groups in one order whichever endpoint answered (the per-user endpoint lists them in assignment
 * order, the inverted map in the groups' order): by name, case-insensitively.
 */
function byName(names: readonly string[]): string[] {
  return names
    .map((name) => [nameKey(name), name] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, name]) => name);
}

/** The one name a batch asks about (however many fields ask), or undefined when it asks about several. */
function loneName(names: readonly string[]): string | undefined {
  const [first] = names;
  return first !== undefined && names.every((name) => nameKey(name) === nameKey(first)) ? first : undefined;
}

/** EPMware answers 404 for a user or group it does not know: for a membership question that means "none". */
function noneWhenUnknown(error: unknown): string[] {
  if (error instanceof GatewayError && error.code === 'NOT_FOUND') return [];
  throw error;
}

export class SecurityDirectory {
  #users = new Map<string, Promise<Index<EpmUser>>>();
  /** The users lists this request already holds, so fields can read them without a promise each. */
  #usersSettled = new Map<string, Index<EpmUser>>();
  #groups: Promise<Index<EpmGroup>> | undefined;
  #groupsSettled: Index<EpmGroup> | undefined;
  #memberships: Promise<Memberships> | undefined;
  #settled: Memberships | undefined;
  /** Answers of the one-user and one-group membership endpoints, by key. */
  #groupsOfOne = new Map<string, Promise<readonly string[]>>();
  #membersOfOne = new Map<string, Promise<readonly string[]>>();

  // Batching only (cache: false): the caching lives in the maps above, which forget() clears. A DataLoader
  // cache would keep serving a membership a mutation in the same request has just changed.
  #groupsOf = new DataLoader<string, readonly string[], string>((names) => this.#loadGroupsOf(names), {
    cache: false,
  });
  #membersOf = new DataLoader<string, readonly string[], string>((names) => this.#loadMembersOf(names), {
    cache: false,
  });

  constructor(private readonly epmware: () => Epmware) {}

  /** All users (of one userType, when given: EPMware filters that itself). */
  users(userType?: string): Promise<Index<EpmUser>> {
    const key = userType ?? '';
    let entry = this.#users.get(key);
    if (!entry) {
      const fetched: Promise<Index<EpmUser>> = this.epmware()
        .listUsers(userType)
        .then((list) => {
          const users = indexOf(list, (user) => user.userName);
          // A forget() meanwhile wins.
          if (this.#users.get(key) === fetched) this.#usersSettled.set(key, users);
          return users;
        });
      entry = fetched;
      this.#users.set(key, entry);
    }
    return entry;
  }

  /** users() without waiting, once this request holds that list (undefined before). */
  usersNow(userType?: string): Index<EpmUser> | undefined {
    return this.#usersSettled.get(userType ?? '');
  }

  groups(): Promise<Index<EpmGroup>> {
    if (!this.#groups) {
      const fetched: Promise<Index<EpmGroup>> = this.epmware()
        .listGroups()
        .then((list) => {
          const groups = indexOf(list, (group) => group.name);
          if (this.#groups === fetched) this.#groupsSettled = groups;
          return groups;
        });
      this.#groups = fetched;
    }
    return this.#groups;
  }

  /** groups() without waiting, once this request holds the list (undefined before). */
  groupsNow(): Index<EpmGroup> | undefined {
    return this.#groupsSettled;
  }

  /** Every group's members in one call, inverted so a user's groups cost nothing more. */
  memberships(): Promise<Memberships> {
    if (!this.#memberships) {
      const fetched = this.epmware().groupMembers().then(membershipsOf);
      this.#memberships = fetched;
      // Remembered once settled, so fields can read it without a promise each (see groupsOfNow); a forget()
      // meanwhile wins.
      void fetched.then(
        (memberships) => {
          if (this.#memberships === fetched) this.#settled = memberships;
        },
        () => undefined,
      );
    }
    return this.#memberships;
  }

  /** The names of a user's groups, as EPMware spells them, by name. Calls made in one tick are answered together. */
  groupsOf(userName: string): Promise<readonly string[]> {
    return this.#groupsOf.load(userName);
  }

  /** The names of a group's members, as EPMware spells them (upper case). Batched like groupsOf. */
  membersOf(groupName: string): Promise<readonly string[]> {
    return this.#membersOf.load(groupName);
  }

  /**
   * groupsOf without waiting, once this request holds every membership (undefined before). A nested query asks
   * this tens of thousands of times; answering synchronously spares a promise and a batch each time.
   */
  groupsOfNow(userKey: string): readonly Mention[] | undefined {
    return this.#settled && (this.#settled.groupMentionsByUser.get(userKey) ?? NO_MENTIONS);
  }

  /** membersOf without waiting, once this request holds every membership (undefined before). Keyed by nameKey. */
  membersOfNow(groupKey: string): readonly Mention[] | undefined {
    return this.#settled && (this.#settled.memberMentionsByGroup.get(groupKey) ?? NO_MENTIONS);
  }

  /** After a write: the next read in this request fetches afresh. */
  forget(): void {
    this.#users.clear();
    this.#usersSettled.clear();
    this.#groups = undefined;
    this.#groupsSettled = undefined;
    this.#memberships = undefined;
    this.#settled = undefined;
    this.#groupsOfOne.clear();
    this.#membersOfOne.clear();
  }

  // A lone user (a profile screen: `user(userName) { groups }`) asks EPMware for that user's groups only — a few
  // bytes, where every group's member list is megabytes on a large tenant. Two or more users (a list screen, a
  // nested query) take the whole map in one call instead: N calls would spend the credential's budget (100 a
  // minute) far faster than the bytes cost. Once this request holds the whole map, it answers everyone for free.
  // The price: a query that goes deeper from one user makes one small extra call before it needs the map.
  async #loadGroupsOf(names: readonly string[]): Promise<Array<readonly string[] | Error>> {
    const lone = loneName(names);
    if (lone !== undefined && !this.#memberships) {
      const key = nameKey(lone);
      let answer = this.#groupsOfOne.get(key);
      if (!answer) {
        answer = this.epmware()
          .userGroups(lone)
          .then((found) => found.groups, noneWhenUnknown);
        this.#groupsOfOne.set(key, answer);
      }
      const groups = byName(await answer);
      return names.map(() => groups);
    }
    const { groupNamesByUser } = await this.memberships();
    return names.map((name) => groupNamesByUser.get(nameKey(name)) ?? []);
  }

  /** The same choice for groups: one group's members alone, or every group's at once. */
  async #loadMembersOf(names: readonly string[]): Promise<Array<readonly string[] | Error>> {
    const lone = loneName(names);
    if (lone !== undefined && !this.#memberships) {
      const key = nameKey(lone);
      let answer = this.#membersOfOne.get(key);
      if (!answer) {
        answer = this.epmware()
          .groupMembers(lone)
          .then(
            (found) => found.find((entry) => nameKey(entry.groupName) === key)?.users ?? [],
            noneWhenUnknown,
          );
        this.#membersOfOne.set(key, answer);
      }
      const members = await answer;
      return names.map(() => members);
    }
    const { memberNamesByGroup } = await this.memberships();
    return names.map((name) => memberNamesByGroup.get(nameKey(name)) ?? []);
  }
}
