/**
 * Demand control in upstream calls. A cheap-looking document (30 aliases of `deployments(names: [100 names])
 * { executions }`, or `nodes(ids: [3000 task ids])`) would spend a credential's whole minute of EPMware budget;
 * with a shared EPMWARE_TOKEN, one anonymous request would starve every other client. So before an operation runs,
 * its most upstream calls are estimated (cost/estimate.ts, from the costs declared on the fields; remembered per
 * document and variables by cost/estimate-memo.ts) and an operation over MAX_UPSTREAM_CALLS_PER_OPERATION
 * is refused with GRAPHQL_VALIDATION_FAILED (HTTP 400) and no upstream call; while it runs, the context's counter
 * (cost/call-counter.ts) refuses any call past the limit that the estimate did not foresee.
 *
 * Why at execute/subscribe time and not as a validation rule: the estimate needs the request's variables (a list
 * of names passed as a variable counts), and Yoga caches validation results per document, not per variables.
 * Why not a library: see docs/limits-and-security.md ("Demand control").
 *
 * Subscriptions: the estimate is of one event (taskUpdates' first state, plus what the selection asks of each
 * event, such as `log`), and the counter starts afresh for each event. The polls behind the events are shared by
 * every subscriber of the task and paced by TASK_POLL_INTERVAL_MS (tasks/), so they are not one operation's.
 */
import type { ExecutionArgs, GraphQLError } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';
import { ESTIMATE_CEILING } from '../cost/estimate.ts';
import { EstimateMemo } from '../cost/estimate-memo.ts';

function refusal(args: ExecutionArgs, limit: number, memo: EstimateMemo): GraphQLError | null {
  const estimate = memo.estimate(
    args.schema,
    args.document,
    args.variableValues as Record<string, unknown> | null | undefined,
    args.operationName,
  );
  if (!estimate || estimate.calls <= limit) return null;
  const calls = estimate.calls > ESTIMATE_CEILING ? `more than ${ESTIMATE_CEILING}` : `${estimate.calls}`;
  const what = estimate.operation === 'subscription' ? 'Each event of this subscription' : 'This operation';
  return createGraphQLError(
    `${what} could cause ${calls} upstream calls to EPMware; the limit is ${limit} ` +
      '(MAX_UPSTREAM_CALLS_PER_OPERATION). Ask for fewer names, ids or aliases, or split it into several operations.',
    { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } } },
  );
}

export function upstreamCostPlugin(limit: number): Plugin<Context> {
  // One per gateway (one schema): a document sent again with the same variables is not walked again.
  const memo = new EstimateMemo();
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const error = refusal(args, limit, memo);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = refusal(args, limit, memo);
      if (error) {
        setResultAndStopExecution({ errors: [error] });
        return;
      }
      const counter = args.contextValue.upstreamCalls;
      return {
        // Each event is one execution of the selection set: it gets the whole allowance again.
        onSubscribeResult: () => ({ onNext: () => counter.reset() }),
      };
    },
  };
}
