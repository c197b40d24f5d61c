/**
 * Prints the schema the gateway serves (Pothos's, plus the @defer and @stream directives Yoga's plugin adds), sorted,
 * to schema.graphql; with --check, fails when the committed file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { GraphQLDeferDirective, GraphQLStreamDirective } from '@graphql-tools/utils';
import { GraphQLSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from '../src/schema/index.ts';

const target = new URL('../schema.graphql', import.meta.url);
// What clients are served: Yoga's defer/stream plugin (plugins/defer-stream.ts) adds @defer and @stream to the
// Pothos schema at start-up, so code generators and editors validating against this file must see them too.
const served = new GraphQLSchema({
  ...schema.toConfig(),
  directives: [...schema.getDirectives(), GraphQLDeferDirective, GraphQLStreamDirective],
});
const printed = `${printSchema(lexicographicSortSchema(served))}\n`;

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(target, 'utf8');
  } catch {
    // A missing file is as stale as a wrong one.
  }
  if (committed !== printed) {
    process.stderr.write('schema.graphql is stale: run `npm run schema:print` and commit the result\n');
    process.exit(1);
  }
  process.stdout.write('schema.graphql is up to date\n');
} else {
  writeFileSync(target, printed);
  process.stdout.write('wrote schema.graphql\n');
}
