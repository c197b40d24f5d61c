/**
 * Prints the Pothos schema, sorted, to schema.graphql; with --check, fails when the committed file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from '../src/schema/index.ts';

const target = new URL('../schema.graphql', import.meta.url);
const printed = `${printSchema(lexicographicSortSchema(schema))}\n`;

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
