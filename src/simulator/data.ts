// Seeded users, groups and memberships of one tenant. Everything derives from the seed alone (never from the
// clock), so the same seed gives byte-identical data, and generation stays linear for 10_000 users.
import type { NamePool } from './names.ts';
import { REGIONS, USER_DESCRIPTIONS } from './names.ts';
import { Random } from './random.ts';
import type { UpstreamGroup, UpstreamUser } from './types.ts';

export interface UserRecord {
  /** Upstream user id, returned by create/update ("586"-style). Not part of the list shape. */
  id: string;
  user: UpstreamUser;
}

export interface SecuritySeed {
  users: UserRecord[];
  groups: UpstreamGroup[];
  /** Group names per user, indexed like `users`. */
  memberships: string[][];
  nextUserId: number;
}

export interface SecuritySeedSpec {
  seed: number;
  users: number;
  groups: number;
  names: NamePool;
  namedGroups: readonly (readonly [string, string])[];
}

const FIRST_USER_ID = 101;

export function generateSecurityData(spec: SecuritySeedSpec): SecuritySeed {
  const rng = new Random(spec.seed);
  const groups = generateGroups(rng, spec.groups, spec.namedGroups);
  const users: UserRecord[] = [];
  const memberships: string[][] = [];
  const taken = new Set<string>();
  for (let i = 0; i < spec.users; i++) {
    users.push({ id: String(FIRST_USER_ID + i), user: generateUser(rng, i, spec.names, taken) });
    memberships.push(pickGroups(rng, groups));
  }
  return { users, groups, memberships, nextUserId: FIRST_USER_ID + spec.users };
}

function generateUser(rng: Random, index: number, names: NamePool, taken: Set<string>): UpstreamUser {
  const first = rng.pick(names.firstNames);
  const last = rng.pick(names.lastNames);
  const userName = uniqueUserName(rng, `${first}.${last}`, taken);
  // The low indexes carry one of each oddity, so even a tiny tenant shows them all.
  const lastNameMissing = index === 5 || rng.chance(0.03);
  const mixedCaseEmail = index === 2 || rng.chance(0.08);
  const disabled = index === 3 || rng.chance(0.06);
  const hasDescription = index !== 1 && (index === 0 || rng.chance(0.55));
  const user: UpstreamUser = {
    userName,
    firstName: capitalize(first),
    lastName: lastNameMissing ? null : capitalize(last),
    email: mixedCaseEmail
      ? `${userName.split('.').map(capitalize).join('.')}@${capitalize(names.emailDomain)}`
      : `${userName}@${names.emailDomain}`,
    enable: disabled ? 'N' : 'Y',
    userType: rng.chance(0.4) ? 'SAML' : 'NATIVE',
  };
  if (hasDescription) user.description = rng.pick(USER_DESCRIPTIONS);
  return user;
}

function uniqueUserName(rng: Random, base: string, taken: Set<string>): string {
  let candidate = rng.chance(0.06) ? `${base}${rng.int(1, 99)}` : base;
  for (let attempt = 0; taken.has(candidate); attempt++) {
    candidate = attempt < 8 ? `${base}${rng.int(1, 99 * (attempt + 1))}` : `${base}${taken.size}`;
  }
  taken.add(candidate);
  return candidate;
}

function generateGroups(
  rng: Random,
  count: number,
  named: readonly (readonly [string, string])[],
): UpstreamGroup[] {
  const groups: UpstreamGroup[] = [];
  for (let i = 0; i < count; i++) {
    const enable = i >= 5 && rng.chance(0.1) ? 'N' : 'Y';
    const direct = named[i];
    if (direct) {
      groups.push({ name: direct[0], description: direct[1], enable });
      continue;
    }
    // Past the named list: "<name> <region>", then "<name> <region> 2"...; unique by construction.
    const offset = i - named.length;
    const base = named[offset % named.length] ?? ['Group', 'Group'];
    const tier = Math.floor(offset / named.length);
    const region = REGIONS[tier % REGIONS.length] ?? 'NA';
    const round = Math.floor(tier / REGIONS.length);
    const name = round === 0 ? `${base[0]} ${region}` : `${base[0]} ${region} ${round + 1}`;
    groups.push({ name, description: `${base[1]} (${region})`, enable });
  }
  return groups;
}

function pickGroups(rng: Random, groups: UpstreamGroup[]): string[] {
  const r = rng.next();
  const count = r < 0.15 ? 0 : r < 0.5 ? 1 : r < 0.75 ? 2 : r < 0.9 ? 3 : 4;
  return rng.sampleIndexes(groups.length, count).map((i) => groups[i]?.name ?? '');
}

function capitalize(word: string): string {
  return word.length === 0 ? word : word[0]?.toUpperCase() + word.slice(1);
}
