/**
 * Several instances, one EPMware: 1, 2 and 4 gateway instances sharing one Redis (REDIS_URL) in front of one
 * simulator with its documented limits on (100 requests a minute per token), 30 clients sending their queries
 * round-robin over the instances for BENCH_SECONDS (default 15). Reference in the same run: 4 instances WITHOUT
 * Redis (each spends its own 100 a minute, as before this change). Reports what EPMware saw (requests, the most in
 * any 60 s, 429s), what clients got (answers, fully OK, RATE_LIMITED) and CPU ms per answer (this process' CPU:
 * load generator, gateways and simulator together, alike in every row).
 *
 *   redis-server --port 6379 --save "" &   # if none runs
 *   npm run bench:instances
 *
 * Needs a Redis at BENCH_REDIS_URL (default redis://127.0.0.1:6379/0); uses its own key prefix and deletes it.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { loadConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const CLIENTS = 30;
const THINK_MS = 200;

interface Figures {
  label: string;
  upstream: number;
  maxPerMinute: number;
  upstream429: number;
  answers: number;
  rateLimited: number;
  cpuMsPerAnswer: number;
}

/** Half cacheable reads (60 users), half reads nobody repeats (so demand exceeds the budget). */
function queryFor(sim: Simulator, client: number, i: number): string {
  if (i % 2 === 0) {
    const users = sim.state().users();
    const name = users[(client * 7 + i) % users.length]?.userName ?? '';
    return JSON.stringify({ query: `{ user(userName: "${name}") { userName enabled } }` });
  }
  return JSON.stringify({ query: `{ deployment(name: "BENCH_${client}_${i}") { latestExecution { id } } }` });
}

function maxInAnyMinute(times: number[]): number {
  let best = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] ?? 0) - (times[start] ?? 0) >= 60_000) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/** How long after start each instance's reserve of the shared budget opens: 0 for instances that have run
 * longer than a minute, 'default' for a fresh start (one window later, src/redis/budget-split.ts). */
type ReserveOpening = number | 'default';

async function runOnce(
  label: string,
  instances: number,
  redisUrl: string | null,
  seconds = SECONDS,
  reserveOpensAfterMs: ReserveOpening = 0,
): Promise<Figures> {
  const sim = await startSimulator({ rateLimits: 'documented' });
  const prefix = `epmware-gateway-bench:${randomUUID().slice(0, 8)}:`;
  const env: Record<string, string> = {
    LOG_LEVEL: 'error',
    REDIS_KEY_PREFIX: prefix,
    GATEWAY_INSTANCES: String(instances),
  };
  if (redisUrl) env.REDIS_URL = redisUrl;
  const gateways: Gateway[] = [];
  const urls: URL[] = [];
  for (let n = 0; n < instances; n++) {
    const gateway = createGateway(
      { ...loadConfig(env), epmwareUrl: new URL(sim.url) },
      {
        logStream: { write() {} },
        upstream: {
          budgetReserveOpensAfterMs: reserveOpensAfterMs === 'default' ? undefined : reserveOpensAfterMs,
        },
      },
    );
    gateways.push(gateway);
    urls.push(await gateway.listen(0, '127.0.0.1'));
  }
  for (let tries = 0; redisUrl && tries < 100; tries++) {
    if (gateways.every((g) => g.services.redis?.isUp())) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const cpuBefore = process.cpuUsage();
  const stopAt = Date.now() + seconds * 1000;
  let answers = 0;
  let rateLimited = 0;
  let turn = 0;
  const client = async (id: number) => {
    for (let i = 0; Date.now() < stopAt; i++) {
      const url = urls[turn++ % urls.length] as URL;
      const response = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Token ${sim.tokens.primary}` },
        body: queryFor(sim, id, i),
      });
      const body = (await response.body.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
      answers++;
      const codes = (body.errors ?? []).map((e) => e.extensions?.code);
      if (codes.includes('RATE_LIMITED')) rateLimited++;
      await new Promise((resolve) => setTimeout(resolve, THINK_MS));
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, id) => client(id)));
  const cpu = process.cpuUsage(cpuBefore);
  const upstream = sim.requests().filter((r) => r.path.startsWith('/service/api/'));
  await Promise.all(gateways.map((g) => g.close()));
  await sim.close();
  if (redisUrl) {
    const redis = new Redis(redisUrl);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
  return {
    label,
    upstream: upstream.length,
    maxPerMinute: maxInAnyMinute(upstream.map((r) => r.at).sort((a, b) => a - b)),
    upstream429: upstream.filter((r) => r.status === 429).length,
    answers,
    rateLimited,
    cpuMsPerAnswer: (cpu.user + cpu.system) / 1000 / Math.max(1, answers),
  };
}

async function main(): Promise<void> {
  const rows: Figures[] = [];
  // A short warm-up run first (discarded): the first requests of a process pay for JIT compilation.
  await runOnce('warm-up', 1, null, 3);
  rows.push(await runOnce('4 instances, no Redis (reference: before)', 4, null));
  for (const n of [1, 2, 4]) rows.push(await runOnce(`${n} instance(s), one Redis`, n, REDIS_URL));
  rows.push(await runOnce('4 instances, one Redis, their first minute', 4, REDIS_URL, SECONDS, 'default'));
  const reference = rows[0] as Figures;
  process.stdout.write(
    [
      `Several instances: ${CLIENTS} clients round-robin for ${SECONDS} s, EPMware limits on (100/min per token), one token`,
      '',
      '| gateways | upstream requests | max in any 60 s (goal <= 100) | upstream 429s (goal 0) | answers | served (not RATE_LIMITED) | RATE_LIMITED | CPU ms/answer | CPU vs reference |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows.map(
        (f) =>
          `| ${f.label} | ${f.upstream} | ${f.maxPerMinute} | ${f.upstream429} | ${f.answers} | ${f.answers - f.rateLimited} | ` +
          `${f.rateLimited} | ${f.cpuMsPerAnswer.toFixed(2)} | ${(f.cpuMsPerAnswer / reference.cpuMsPerAnswer).toFixed(2)} |`,
      ),
      '',
    ].join('\n'),
  );
}

await main();
