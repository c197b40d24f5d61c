/**
 * The tracing stage: one CLIENT span per upstream call, around its deadline and all its attempts, just above the
 * exchange so that it sees the call's outcome as the caller will (a 404 as NOT_FOUND); below coalescing, so that a
 * request shared by several callers is one span. The retry and dispatch stages mark each attempt's start and send
 * on it (observability/tracing.ts; all of it a null check while tracing is off).
 */
import { traceUpstreamCall, tracingEnabled } from '../observability/tracing.ts';
import { type Answer, type CallStage, isBuffered } from './pipeline.ts';

export const traced: CallStage = (next) => (call) => {
  if (!tracingEnabled()) return next(call);
  return traceUpstreamCall(call, async () => {
    const answer = await next(call);
    return { statusCode: isBuffered(answer) ? answer.status : answer.statusCode, answer };
  }).then((traced: { answer: Answer }) => traced.answer);
};
