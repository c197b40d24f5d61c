/**
 * The data the reference servers hold in memory: the simulator's users, each with its groups, in the gateway's
 * default order (user name, case-insensitively) and spelling, fetched once at start-up over the simulator's API.
 */
import { request } from 'undici';

export interface RefGroup {
  name: string;
}

export interface RefUser {
  userName: string;
  firstName: string | null;
  email: string | null;
  groups: RefGroup[];
}

const key = (name: string) => name.trim().toLowerCase();
const byKey = (a: string, b: string) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

async function get<T>(simulatorUrl: string, token: string, path: string): Promise<T> {
  const response = await request(`${simulatorUrl}/service/api${path}`, {
    headers: { authorization: `Token ${token}` },
  });
  if (response.statusCode !== 200) throw new Error(`simulator ${path}: ${response.statusCode}`);
  return (await response.body.json()) as T;
}

export async function loadReferenceUsers(simulatorUrl: string, token: string): Promise<RefUser[]> {
  const [users, memberships] = await Promise.all([
    get<Array<{ userName: string; firstName: string | null; email: string | null }>>(
      simulatorUrl,
      token,
      '/security/users',
    ),
    get<Array<{ groupName: string; users: string[] }>>(simulatorUrl, token, '/security/groups/users'),
  ]);
  const groupsByUser = new Map<string, Set<string>>();
  for (const group of memberships) {
    for (const member of group.users) {
      let groups = groupsByUser.get(key(member));
      if (!groups) {
        groups = new Set();
        groupsByUser.set(key(member), groups);
      }
      groups.add(group.groupName);
    }
  }
  return users
    .map((user) => ({
      userName: user.userName,
      firstName: user.firstName,
      email: user.email,
      groups: [...(groupsByUser.get(key(user.userName)) ?? [])].sort(byKey).map((name) => ({ name })),
    }))
    .sort((a, b) => byKey(a.userName, b.userName));
}
