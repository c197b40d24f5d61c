/**
 * The tracing stage: one CLIENT span per upstream call, around all its attempts (observability/tracing.ts; a plain
 * call while tracing is off). The retry and dispatch stages mark each attempt's start and send on it.
 */
import { traceUpstreamCall } from '../observability/tracing.ts';
import type { AttemptStage } from './pipeline.ts';

export const traced: AttemptStage = (next) => (attempt) =>
  traceUpstreamCall(attempt.call, () => next(attempt));
