/**
 * The two stages that spend budget before a request goes out: `fairShare`, the share one client may take of the
 * service token's budget, and `budgeted`, the credential's own budget (budget.ts: a slot, or a wait in the queue,
 * or RATE_LIMITED when no slot would come before the deadline). A slot taken for an attempt that is never sent (the
 * breaker refused it after the wait) is given back; one that was sent is dated by its answer.
 */
import { GatewayError } from '../errors.ts';
import type { Budget, BudgetClaim, Permit } from './budget.ts';
import { retryAfterMs } from './failures.ts';
import type { Attempt, AttemptHandler, AttemptStage, EndpointClass } from './pipeline.ts';

export function budgeted(budget: Budget): AttemptStage {
  return (next) => async (attempt) => {
    const { call } = attempt;
    const endpointClass = call.endpointClass ?? 'standard';
    const permit = await budget.acquire(claimFor(attempt, call.credential.fingerprint, endpointClass));
    const response = await sendWith(permit, next, attempt);
    if (response.statusCode === 429) {
      // EPMware said 429 anyway (another client shares the token, or its window is aligned differently): send
      // nothing more of that class for this credential until its Retry-After.
      const wait = retryAfterMs(response.headers);
      if (wait !== undefined) budget.pause(call.credential.fingerprint, endpointClass, Date.now() + wait);
    }
    return response;
  };
}

/**
 * When EPMWARE_TOKEN stands in for clients that sent no token, they all spend one budget: each client (by address)
 * may take at most `sharePerMinute` of it per window, so one anonymous client cannot starve the others. Calls made
 * with a client's own token carry no `clientKey` and pass.
 */
export function fairShare(shares: Budget, sharePerMinute: number): AttemptStage {
  return (next) => async (attempt) => {
    const { call } = attempt;
    if (call.clientKey === undefined) return next(attempt);
    let permit: Permit;
    try {
      permit = await shares.acquire(
        claimFor(attempt, `${call.credential.fingerprint}\u0000${call.clientKey}`, 'standard'),
      );
    } catch (error) {
      if (!(error instanceof GatewayError) || error.code !== 'RATE_LIMITED') throw error;
      throw new GatewayError(
        'RATE_LIMITED',
        `This client has used its share of the gateway's service token (${sharePerMinute} EPMware requests a ` +
          `minute, so that no one client can spend the whole budget) and ${call.endpoint} cannot be served ` +
          'within UPSTREAM_TIMEOUT_MS; send your own token, or try again shortly',
      );
    }
    return sendWith(permit, next, attempt);
  };
}

function claimFor(attempt: Attempt, credentialKey: string, endpointClass: EndpointClass): BudgetClaim {
  const { call, deadline } = attempt;
  return {
    credentialKey,
    endpointClass,
    priority: call.priority ?? 'interactive',
    deadline: deadline.at,
    endpoint: call.endpoint,
    signal: deadline.callerSignal,
  };
}

/** The attempt, with its slot: dated by the answer once sent, given back when it never went out. */
async function sendWith(permit: Permit, next: AttemptHandler, attempt: Attempt): ReturnType<AttemptHandler> {
  attempt.sentAt = 0;
  try {
    const response = await next(attempt);
    permit.settle();
    return response;
  } catch (error) {
    // Never sent (refused by the breaker after the wait): the slot goes back.
    if (attempt.sentAt === 0) permit.cancel();
    else permit.settle();
    throw error;
  }
}
