/**
 * The counting stage: a call made for a GraphQL operation is counted against its MAX_UPSTREAM_CALLS_PER_OPERATION
 * (the counter travels in the call; cost/call-counter.ts keeps it) before anything else, whether the cache, an
 * identical read in flight or EPMware answers it: the count depends on the document alone, never on what other
 * requests happened to warm up. Calls outside an operation (task pollers, downloads) carry no counter.
 */
import type { CallStage } from './pipeline.ts';

export const countedCalls: CallStage = (next) => (call) => {
  if (call.counter) {
    try {
      call.counter.take(call.endpoint);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return next(call);
};
