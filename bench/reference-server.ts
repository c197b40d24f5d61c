/**
 * The reference the list benchmark (bench/list.ts) measures the gateway against, as a process of its own:
 *   node --import tsx bench/reference-server.ts <yoga|jit|bare> <simulatorUrl> <token>
 * holds the same users and memberships in memory (bench/reference-data.ts) and prints `READY <url>`.
 *
 * - yoga: a minimal graphql-yoga + Pothos server, `users(first) { nodes { userName firstName email groups { name } } }`
 * - jit:  the same with @envelop/graphql-jit
 * - bare: node:http answering the precomputed JSON of the two benchmark queries (whichever the body names)
 *
 * Only the benchmark uses it; it listens on 127.0.0.1 and stops when its parent closes its stdin.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useGraphQlJit } from '@envelop/graphql-jit';
import SchemaBuilder from '@pothos/core';
import { createYoga, type Plugin } from 'graphql-yoga';
import { loadReferenceUsers, type RefGroup, type RefUser } from './reference-data.ts';

const [kind, simulatorUrl, token] = process.argv.slice(2);
if (!kind || !simulatorUrl || !token || !['yoga', 'jit', 'bare'].includes(kind)) {
  process.stderr.write('usage: reference-server.ts <yoga|jit|bare> <simulatorUrl> <token>\n');
  process.exit(2);
}

const users = await loadReferenceUsers(simulatorUrl, token);

function buildSchema() {
  const builder = new SchemaBuilder<{ Context: object }>({});
  const Group = builder.objectRef<RefGroup>('Group').implement({
    fields: (t) => ({ name: t.exposeString('name') }),
  });
  const User = builder.objectRef<RefUser>('User').implement({
    fields: (t) => ({
      userName: t.exposeString('userName'),
      firstName: t.exposeString('firstName', { nullable: true }),
      email: t.exposeString('email', { nullable: true }),
      groups: t.field({ type: [Group], resolve: (user) => user.groups }),
    }),
  });
  const Connection = builder.objectRef<{ nodes: RefUser[] }>('UserConnection').implement({
    fields: (t) => ({ nodes: t.field({ type: [User], resolve: (connection) => connection.nodes }) }),
  });
  builder.queryType({
    fields: (t) => ({
      users: t.field({
        type: Connection,
        args: { first: t.arg.int() },
        resolve: (_root, args) => ({ nodes: users.slice(0, Math.min(args.first ?? 100, 1000)) }),
      }),
    }),
  });
  return builder.toSchema();
}

/** The two benchmark answers, as the gateway spells them. */
function precomputed(): { list: string; withGroups: string } {
  const page = users.slice(0, 1000);
  return {
    list: JSON.stringify({
      data: {
        users: { nodes: page.map(({ userName, firstName, email }) => ({ userName, firstName, email })) },
      },
    }),
    withGroups: JSON.stringify({
      data: { users: { nodes: page.map(({ userName, groups }) => ({ userName, groups })) } },
    }),
  };
}

const server =
  kind === 'bare'
    ? (() => {
        const answers = precomputed();
        return createServer((req, res) => {
          let body = '';
          req.setEncoding('utf8');
          req.on('data', (chunk: string) => {
            body += chunk;
          });
          req.on('end', () => {
            const answer = body.includes('groups') ? answers.withGroups : answers.list;
            res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
            res.end(answer);
          });
        });
      })()
    : (() => {
        const plugins: Plugin[] = kind === 'jit' ? [useGraphQlJit() as Plugin] : [];
        const yoga = createYoga({ schema: buildSchema(), plugins, logging: false, landingPage: false });
        return createServer(yoga);
      })();

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`READY http://127.0.0.1:${port}/graphql\n`);
});
// Stop with the parent, whatever way it ends.
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
