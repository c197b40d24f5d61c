/**
 * "One poller per task outside Redis outages", measured as bench/instances-pollers.ts measures pollers: by the
 * get_status calls EPMware receives for a task. The probe watches one long task with a token of its own (the
 * simulator's extra token of the primary tenant), through one SSE subscriber on every instance, re-subscribing
 * when its instance restarts or its stream ends; no other client uses that token, so every get_status call with it
 * is a poll. The forwarder in front of the simulator (forwarder.ts) says which instance sent each.
 *
 * Counting calls per interval would not do here: the probe's polls (one per 500 ms is 120 a minute) are more than
 * the token's budget of 100, so the budget spaces them whether one instance polls or three. Instead: two pollers at
 * once show as interleaved calls, a call of one instance between two calls of another less than SPAN_GAP_MS apart.
 * A hand-over (the holder stopped, another takes the lease) is one instance's calls ending and another's beginning,
 * not interleaved. During an outage each instance polls on its own by design, so outages (and GRACE_MS after Redis
 * answers again, while the instances reconnect) are left out.
 */
import { request } from 'undici';
import type { Simulator } from '../../src/simulator/index.ts';
import type { Cluster } from './cluster.ts';
import type { PortLedger } from './forwarder.ts';

const TASK_MS = 30 * 60_000;
/** Two calls of one instance at most this far apart are one stretch of polling. */
export const SPAN_GAP_MS = 2_000;
/** After Redis answers again, how long the instances may take to reconnect and settle who polls. */
export const GRACE_MS = 5_000;

export interface Poll {
  at: number;
  /** The instance that sent it; -1 when the forwarder does not know the port. */
  instance: number;
}

export interface PollFigures {
  polls: number;
  byInstance: Record<string, number>;
  /** Polls outside the outages, and of those the interleaved ones (two pollers at once). */
  judged: number;
  interleaved: number;
  samples: string[];
  /** Changes of the polling instance outside the outages (each stop of the holder makes one). */
  handOvers: number;
}

/** Starts the long task through instance 0 (so its budget counts the call) and one watcher per instance. */
export async function startPollProbe(
  sim: Simulator,
  cluster: Cluster,
  token: string,
  taskDurationMs: number,
  deploymentName: string,
) {
  const first = cluster.current(0);
  if (!first) throw new Error('the poll probe needs instance 0 up');
  // Only this one task runs long; the soak's own tasks go back to their usual length.
  sim.configure({ taskDurationMs: TASK_MS });
  const response = await request(first.gateway.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Token ${token}` },
    body: JSON.stringify({
      query: 'mutation ($n: String!) { runDeployment(name: $n) { taskId } }',
      variables: { n: deploymentName },
    }),
  }).finally(() => sim.configure({ taskDurationMs }));
  const answer = (await response.body.json()) as { data?: { runDeployment?: { taskId?: string } } };
  const taskId = answer.data?.runDeployment?.taskId;
  if (!taskId) throw new Error(`the poll probe could not start a task: ${JSON.stringify(answer)}`);

  const stopping = new AbortController();
  const watch = async (instance: number) => {
    while (!stopping.signal.aborted) {
      const running = cluster.current(instance);
      if (running) {
        await request(running.gateway.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'text/event-stream',
            authorization: `Token ${token}`,
          },
          body: JSON.stringify({
            query: 'subscription ($id: ID!) { taskUpdates(taskId: $id) { state } }',
            variables: { id: taskId },
          }),
          signal: stopping.signal,
        }).then(
          (stream) => stream.body.dump({ limit: Number.POSITIVE_INFINITY }),
          () => {},
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  };
  const watchers = Array.from({ length: cluster.size }, (_, instance) => watch(instance).catch(() => {}));
  return {
    taskId,
    async stop() {
      stopping.abort();
      await Promise.all(watchers);
    },
  };
}

export function probePolls(sim: Simulator, ledger: PortLedger, taskId: string, token: string): Poll[] {
  return sim
    .requests({ method: 'GET', path: `/service/api/task/get_status/${taskId}` })
    .filter((call) => call.token === token)
    .map((call) => ({ at: call.at, instance: ledger.instanceAt(call.remotePort, call.at) }))
    .sort((a, b) => a.at - b.at);
}

/** `startedAt` (Date.now()): the start of the faulted run, which the samples' times are relative to. */
export function judgePolls(
  polls: Poll[],
  outages: Array<{ from: number; to: number }>,
  startedAt: number,
): PollFigures {
  const excluded = (at: number) => outages.some((window) => at >= window.from && at < window.to + GRACE_MS);
  const judged = polls.filter((poll) => !excluded(poll.at));
  const byInstance: Record<string, number> = {};
  for (const poll of polls) byInstance[poll.instance] = (byInstance[poll.instance] ?? 0) + 1;
  let interleaved = 0;
  let handOvers = 0;
  const samples: string[] = [];
  for (let i = 0; i < judged.length; i++) {
    const poll = judged[i] as Poll;
    const previous = judged[i - 1];
    if (previous && previous.instance !== poll.instance) handOvers++;
    // Another instance's calls on both sides of this one, close together: both were polling.
    const before = judged
      .slice(0, i)
      .reverse()
      .find((each) => each.instance !== poll.instance);
    const after =
      before && judged.slice(i + 1).find((each) => each.instance === before.instance && each.at >= poll.at);
    if (before && after && after.at - before.at <= SPAN_GAP_MS) {
      interleaved++;
      if (samples.length < 5) {
        samples.push(
          `+${((poll.at - startedAt) / 1000).toFixed(1)} s instance ${poll.instance} between two of instance ${before.instance}`,
        );
      }
    }
  }
  return { polls: polls.length, byInstance, judged: judged.length, interleaved, samples, handOvers };
}
