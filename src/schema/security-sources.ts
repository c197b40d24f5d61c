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
