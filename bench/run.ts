/**
 * `npm run bench`: runs every benchmark (or those named on the command line) one after another and prints their
 * tables as markdown, ready for the README. Each bench measures the gateway against a reference in the same run.
 */
import type { BenchResult } from './types.ts';

const benches: Record<string, () => Promise<{ run(): Promise<BenchResult> }>> = {
  'nested-query': () => import('./nested-query.ts'),
  upload: () => import('./upload.ts'),
  subscriptions: () => import('./subscriptions.ts'),
  'rate-limit': () => import('./rate-limit.ts'),
};

const wanted = process.argv.slice(2);
const names = wanted.length > 0 ? wanted : Object.keys(benches);
const started = new Date();
process.stdout.write(`# Benchmarks (${started.toISOString()}, Node ${process.version})\n\n`);
for (const name of names) {
  const load = benches[name];
  if (!load) {
    process.stderr.write(`unknown bench "${name}"; known: ${Object.keys(benches).join(', ')}\n`);
    process.exit(2);
  }
  const { run } = await load();
  const result = await run();
  process.stdout.write(`## ${result.name}\n\n${result.table}\n`);
  if (result.notes) process.stdout.write(`\n${result.notes}\n`);
  process.stdout.write('\n');
}
process.exit(0);
