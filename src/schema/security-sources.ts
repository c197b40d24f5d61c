/**
 * What User and Group objects are made of. A user or group comes either as its row from the users or groups list,
 * or as a *mention*: a name another endpoint gave (a group's members, a user's groups). A mention is looked up in
 * the list only when a field needs more than the name, so `groups { users { groups { name } } }` costs the
 * memberships call and nothing else — the list calls happen only if a field asks for what only they hold.
 *
 * The refs live here, apart from the files that implement them, because User and Group point at each other.
 */
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { nameKey } from '../directory.ts';
import type { EpmGroup, EpmUser } from '../upstream/types.ts';

/** A name EPMware gave somewhere other than the users or groups list, spelled as it gave it. */
export interface Mention {
  mentionedAs: string;
}

export type UserSource = EpmUser | Mention;
export type GroupSource = EpmGroup | Mention;

export const User = builder.objectRef<UserSource>('User');
export const Group = builder.objectRef<GroupSource>('Group');

export function mention(name: string): Mention {
  return { mentionedAs: name };
}

export function isMention(source: UserSource | GroupSource): source is Mention {
  return 'mentionedAs' in source;
}

export function userKey(user: UserSource): string {
  return nameKey(isMention(user) ? user.mentionedAs : user.userName);
}

export function groupName(group: GroupSource): string {
  return isMention(group) ? group.mentionedAs : group.name;
}

/** The user's row; undefined for a member EPMware names in a group but leaves out of the users list. */
export async function userRow(ctx: Context, user: UserSource): Promise<EpmUser | undefined> {
  if (!isMention(user)) return user;
  return (await ctx.directory.users()).byKey.get(nameKey(user.mentionedAs));
}

export async function groupRow(ctx: Context, group: GroupSource): Promise<EpmGroup | undefined> {
  if (!isMention(group)) return group;
  return (await ctx.directory.groups()).byKey.get(nameKey(group.mentionedAs));
}

/** EPMware's enable flag: "Y" is enabled, anything else (N, missing) is not. */
export function isEnabled(row: { enable?: string | null } | undefined): boolean {
  return row?.enable?.trim().toUpperCase() === 'Y';
}
