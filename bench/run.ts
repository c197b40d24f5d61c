/**
 * `npm run bench [-- --quick] [names...]`: runs every benchmark (or those named) one after another and prints their
 * tables as markdown, ready for the README. Each bench measures the gateway against a reference in the same run.
 * It says what it will run and about how long before it starts: the figures mean something only on an idle
 * machine (other load steals CPU from the gateway and its references alike, but unevenly).
 */
import type { BenchOptions, BenchResult } from './types.ts';

interface Bench {
  run(options?: BenchOptions): Promise<BenchResult>;
}

interface Entry {
  what: string;
  /** Seconds, roughly, on an idle 2-core machine. */
  estimate(options: BenchOptions): number;
  load(): Promise<Bench>;
}

const benches: Record<string, Entry> = {
  list: {
    what: 'warm 1,000-user list and users->groups: the gateway vs Yoga + Pothos, graphql-jit and bare node:http',
    estimate: (options) => (options.quick ? 60 : 330),
    load: () => import('./list.ts'),
  },
  deep: {
    what: 'users->groups->users at N = 1,000 and 5,000 (time, peak RSS) and cold users->groups with 20 ms latency',
    estimate: (options) => (options.quick ? 30 : 60),
    load: () => import('./deep.ts'),
  },
  'nested-query': {
    what: 'users->groups->users->groups, N = 10 to 10,000, 20 ms latency: upstream calls vs a naive BFF',
    estimate: () => 90,
    load: () => import('./nested-query.ts'),
  },
  upload: {
    what: '200 MB upload through the gateway vs directly',
    estimate: () => 20,
    load: () => import('./upload.ts'),
  },
  subscriptions: {
    what: '1,000 SSE subscribers over 10 tasks',
    estimate: () => 40,
    load: () => import('./subscriptions.ts'),
  },
  'rate-limit': {
    what: '30 clients, 300 queries under EPMware limits',
    estimate: () => 25,
    load: () => import('./rate-limit.ts'),
  },
};

const args = process.argv.slice(2);
const options: BenchOptions = { quick: args.includes('--quick') };
const wanted = args.filter((arg) => !arg.startsWith('--'));
const names = wanted.length > 0 ? wanted : Object.keys(benches);
for (const name of names) {
  if (!benches[name]) {
    process.stderr.write(
      `unknown bench "${name}"; known: ${Object.keys(benches).join(', ')} (and --quick)\n`,
    );
    process.exit(2);
  }
}
const total = names.reduce((sum, name) => sum + (benches[name] as Entry).estimate(options), 0);
process.stderr.write(
  `Running ${names.length} benchmark(s)${options.quick ? ' in quick mode' : ''}, about ${Math.ceil(total / 60)} min ` +
    'in all. They load both CPU cores: run them on an idle machine, or the figures mean little.\n',
);
for (const name of names) {
  const entry = benches[name] as Entry;
  process.stderr.write(`- ${name} (~${entry.estimate(options)} s): ${entry.what}\n`);
}
const started = new Date();
process.stdout.write(`# Benchmarks (${started.toISOString()}, Node ${process.version})\n\n`);
for (const name of names) {
  const entry = benches[name] as Entry;
  process.stderr.write(`\n[${name}] started, ~${entry.estimate(options)} s\n`);
  const { run } = await entry.load();
  const result = await run(options);
  process.stdout.write(`## ${result.name}\n\n${result.table}\n`);
  if (result.notes) process.stdout.write(`\n${result.notes}\n`);
  process.stdout.write('\n');
}
process.exit(0);
