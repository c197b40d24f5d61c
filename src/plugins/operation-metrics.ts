/**
 * Counts and times GraphQL operations by type and outcome on the gateway's own registry. A small envelop plugin rather than
 * @graphql-yoga/plugin-prometheus: that plugin is not a dependency, registers on prom-client's global registry by
 * default (tests run several gateways in one process), and labels by operation name, which clients choose freely
 * (unbounded label values). Outcomes: ok, partial (data and errors), error, rejected (did not parse or validate).
 */
import type { ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { operationKind } from './operation-kind.ts';

type Outcome = 'ok' | 'partial' | 'error' | 'rejected';

export function outcomeOf(result: ExecutionResult | AsyncIterable<unknown>): Outcome {
  if (isAsyncIterable(result)) return 'ok';
  if (!result.errors?.length) return 'ok';
  return result.data ? 'partial' : 'error';
}

export function operationMetricsPlugin(metrics: GatewayMetrics): Plugin<Context> {
  const count = (operation: string, outcome: Outcome) =>
    metrics.graphqlOperations.inc({ operation, outcome });
  const time = (operation: string, outcome: Outcome, started: number) =>
    metrics.graphqlOperationDuration.observe({ operation, outcome }, (performance.now() - started) / 1000);
  return {
    onParse() {
      return ({ result }) => {
        if (result instanceof Error) count('unknown', 'rejected');
      };
    },
    onValidate({ params }) {
      return ({ valid }) => {
        if (!valid) count(operationKind(params.documentAST), 'rejected');
      };
    },
    onExecute({ args }) {
      const kind = operationKind(args.document, args.operationName);
      const started = performance.now();
      return {
        onExecuteDone: ({ result }) => {
          const outcome = outcomeOf(result);
          count(kind, outcome);
          time(kind, outcome, started);
        },
      };
    },
    onSubscribe() {
      const started = performance.now();
      return {
        // Counted when the subscription is established (or refused); its events are task updates, not operations.
        onSubscribeResult: ({ result }) => {
          const outcome = outcomeOf(result);
          count('subscription', outcome);
          time('subscription', outcome, started);
        },
      };
    },
  };
}
