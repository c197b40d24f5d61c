/**
 * What User and Group objects are made of. A user or group comes either as its row from the users or groups list,
 * or as a *mention*: a name another endpoint gave (a group's members, a user's groups). A mention is looked up in
 * the list only when a field needs more than the name, so `groups { users { groups { name } } }` costs the
 * memberships call and nothing else — the list calls happen only if a field asks for what only they hold.
 *
 * Fields read a row through `fromUserRow` / `fromGroupRow`: synchronously whenever the row is at hand (a list row,
 * or a mention once this request holds the list), so a 1,000-user list costs no promise per field. Only a mention
 * read before its list has arrived waits.
 *
 * The refs live here, apart from the files that implement them, because User and Group point at each other.
 */
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { deeper, type FieldCost, type NodeLoadCost, type Place, type Tally } from '../cost/field-cost.ts';
import { type Mention, mention, nameKey } from '../directory.ts';
import type { EpmGroup, EpmUser } from '../upstream/types.ts';

export { type Mention, mention };

export type UserSource = EpmUser | Mention;
export type GroupSource = EpmGroup | Mention;

export const User = builder.objectRef<UserSource>('User');
export const Group = builder.objectRef<GroupSource>('Group');

export function isMention(source: UserSource | GroupSource): source is Mention {
  return 'mentionedAs' in source;
}

export function userKey(user: UserSource): string {
  return isMention(user) ? user.key : nameKey(user.userName);
}

export function groupName(group: GroupSource): string {
  return isMention(group) ? group.mentionedAs : group.name;
}

export function groupKey(group: GroupSource): string {
  return isMention(group) ? group.key : nameKey(group.name);
}

/**
 * `read(row)`, where row is the user's row or undefined for a member EPMware names in a group but leaves out of
 * the users list: at once when the row is at hand, after the users list arrives otherwise.
 */
export function fromUserRow<R>(
  ctx: Context,
  user: UserSource,
  read: (row: EpmUser | undefined) => R,
): R | Promise<R> {
  if (!isMention(user)) return read(user);
  const users = ctx.directory.usersNow();
  if (users) return read(users.byKey.get(user.key));
  return ctx.directory.users().then((found) => read(found.byKey.get(user.key)));
}

/** fromUserRow for groups. */
export function fromGroupRow<R>(
  ctx: Context,
  group: GroupSource,
  read: (row: EpmGroup | undefined) => R,
): R | Promise<R> {
  if (!isMention(group)) return read(group);
  const groups = ctx.directory.groupsNow();
  if (groups) return read(groups.byKey.get(group.key));
  return ctx.directory.groups().then((found) => read(found.byKey.get(group.key)));
}

/** EPMware's enable flag: "Y" is enabled, anything else (N, missing) is not. */
export function isEnabled(row: { enable?: string | null } | undefined): boolean {
  return row?.enable?.trim().toUpperCase() === 'Y';
}

/*
 * What the security graph costs upstream (the `upstream` declarations of its fields). The SecurityDirectory
 * (directory.ts) fetches each list once per request, so these count once per key however often a document asks:
 * nested users/groups queries cost a constant, never a multiple of their size. A user mutation drops the
 * directory, so each one reads in a scope of its own (Tally.newScope).
 */

/** One directory read, once per scope: `users:<userType>`, `groups`, `memberships`, a lone entity's per level. */
export function readOnce(tally: Tally, scope: string, read: string): void {
  tally.once(`${scope}:${read}`);
}

/** The users list (per userType filter value; '' for all). */
export function usersListRead(userType: unknown = ''): string {
  return `users:${typeof userType === 'string' ? userType : ''}`;
}

/** A field that reads the users list (a mention's row, `user(userName)`), then its selection one level deeper. */
export const usersListCost: FieldCost = (field) => {
  const { place, tally } = field;
  readOnce(tally, place.scope, usersListRead());
  return field.select(deeper(place));
};

/** A field that reads the groups list, then its selection one level deeper. */
export const groupsListCost: FieldCost = (field) => {
  const { place, tally } = field;
  readOnce(tally, place.scope, 'groups');
  return field.select(deeper(place));
};

/** node(id) of a User or a Group: the list it is found in. */
export const usersLoadCost: NodeLoadCost = ({ place, tally }) =>
  readOnce(tally, place.scope, usersListRead());
export const groupsLoadCost: NodeLoadCost = ({ place, tally }) => readOnce(tally, place.scope, 'groups');

/**
 * `User.groups`, `Group.users`, `Group.userCount`: the memberships map, plus the per-entity endpoint a lone user or
 * group uses (SecurityDirectory.groupsOf / membersOf), at most once per nesting level, since the fields of one
 * level resolve in one DataLoader batch.
 */
export function membershipCost(lone: 'groups-of-user' | 'members-of-group'): FieldCost {
  return (field) => {
    const { place, tally } = field;
    readOnce(tally, place.scope, 'memberships');
    readOnce(tally, place.scope, `${lone}:${place.depth}`);
    return field.select(deeper(place));
  };
}

/** Where a user mutation's answer runs: a scope of its own, below the mutation field. */
export function afterWrite(tally: Tally): Place {
  return { scope: tally.newScope(), depth: 1, objects: 1 };
}
