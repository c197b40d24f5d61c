/**
 * The reference the nested-query benchmark measures the gateway against: the backend-for-frontend one writes by
 * hand without DataLoader. Each resolver calls the EPMware endpoint that answers its own question — a user's
 * groups from `/security/users/groups?userName=`, a group's members from `/security/groups/users?groupName=` —
 * the N+1 shape. It is given the benefit of the doubt: answers are memoised for the request (the same user's
 * groups are fetched once, however often they appear) and calls run 16 at a time. Without the memo the nested
 * query would cost users × groups × members calls.
 *
 * In-process graphql-js over an undici Pool to the simulator; only the benchmark uses it.
 */
import {
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  graphql,
} from 'graphql';
import { Pool } from 'undici';

interface NaiveContext {
  get<T>(path: string, query?: Record<string, string>): Promise<T>;
}
interface NaiveUser {
  userName: string;
}
interface NaiveGroup {
  name: string;
}

const Group: GraphQLObjectType<NaiveGroup, NaiveContext> = new GraphQLObjectType<NaiveGroup, NaiveContext>({
  name: 'Group',
  fields: () => ({
    name: { type: new GraphQLNonNull(GraphQLString) },
    users: {
      type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(User))),
      resolve: async (group, _args, ctx) => {
        const [entry] = await ctx.get<Array<{ users: string[] }>>('/security/groups/users', {
          groupName: group.name,
        });
        return (entry?.users ?? []).map((userName) => ({ userName }));
      },
    },
  }),
});

const User: GraphQLObjectType<NaiveUser, NaiveContext> = new GraphQLObjectType<NaiveUser, NaiveContext>({
  name: 'User',
  fields: () => ({
    userName: { type: new GraphQLNonNull(GraphQLString) },
    groups: {
      type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(Group))),
      resolve: async (user, _args, ctx) => {
        const answer = await ctx.get<{ groups: string[] }>('/security/users/groups', {
          userName: user.userName,
        });
        return answer.groups.map((name) => ({ name }));
      },
    },
  }),
});

const schema = new GraphQLSchema({
  query: new GraphQLObjectType<unknown, NaiveContext>({
    name: 'Query',
    fields: {
      users: {
        type: new GraphQLNonNull(
          new GraphQLObjectType<{ nodes: NaiveUser[] }>({
            name: 'UserConnection',
            fields: { nodes: { type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(User))) } },
          }),
        ),
        args: { first: { type: GraphQLInt } },
        resolve: async (_root, args: { first?: number | null }, ctx) => {
          const users = await ctx.get<NaiveUser[]>('/security/users');
          const sorted = users
            .map((user) => ({ userName: user.userName }))
            .sort((a, b) => (a.userName.toLowerCase() < b.userName.toLowerCase() ? -1 : 1));
          return { nodes: sorted.slice(0, args.first ?? 100) };
        },
      },
    },
  }),
});

export interface NaiveBff {
  /** Runs one query; the serialised response, as a server would send it. */
  execute(query: string, variables?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export function createNaiveBff(upstreamUrl: string, token: string, concurrency = 16): NaiveBff {
  // The Pool's connection count is the concurrency cap: further requests wait in undici's queue.
  const pool = new Pool(upstreamUrl, { connections: concurrency });
  return {
    async execute(query, variables) {
      const memo = new Map<string, Promise<unknown>>();
      const contextValue: NaiveContext = {
        get<T>(path: string, query: Record<string, string> = {}): Promise<T> {
          const url = `/service/api${path}?${new URLSearchParams(query)}`;
          // Keyed case-insensitively: groups name members JOHN.SMITH where the users list says john.smith.
          const memoKey = url.toLowerCase();
          let answer = memo.get(memoKey);
          if (!answer) {
            answer = pool
              .request({ method: 'GET', path: url, headers: { authorization: `Token ${token}` } })
              .then((response) => response.body.json());
            memo.set(memoKey, answer);
          }
          return answer as Promise<T>;
        },
      };
      const result = await graphql({ schema, source: query, variableValues: variables, contextValue });
      if (result.errors?.length) throw new Error(`naive BFF: ${result.errors[0]?.message}`);
      return JSON.stringify(result);
    },
    close: () => pool.close(),
  };
}
