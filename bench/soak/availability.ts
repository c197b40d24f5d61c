/**
 * What "available" means in the instances soak's check "availability while Redis is down".
 *
 * An answer is available when it came within the hang limit and is either
 * - data (a 2xx without errors: a GraphQL result, an opened event stream, a downloaded file, an OData page), or
 * - a contract error the gateway gives because of EPMware or of the request, not because of itself. That is every
 *   contract code except INTERNAL_SERVER_ERROR (a bug) and except an UPSTREAM_UNAVAILABLE the gateway raised on its
 *   own: one that carries no `upstreamStatus` (EPMware said nothing) and does not begin with "EPMware" (the words of
 *   a call that could not reach EPMware or of a breaker that EPMware's failures opened). Such a refusal ("the gateway
 *   is shutting down", or one that blames the budget's store) means an instance stopped serving.
 *
 * RATE_LIMITED counts as available: the soak's clients ask for more than EPMware's 100 requests a minute per token
 * at every moment, with Redis up or down, so most of their answers are the budget saying no. That answer is the
 * budget doing its job, the thing this soak is about; a gateway that instead sent the request would earn EPMware's
 * own 429s, which check (a) counts. The check's detail also gives the share of answers with data, so a gateway that
 * answered everything RATE_LIMITED during the outage would show it.
 */
import { CONTRACT_CODES } from './record.ts';

interface ErrorShape {
  message?: unknown;
  code?: unknown;
  extensions?: { code?: unknown; upstreamStatus?: unknown };
}

/** The errors of a GraphQL answer, a download's `{ code, message }` or an OData `{ error: { code, message } }`. */
function errorsOf(body: unknown): ErrorShape[] {
  if (typeof body !== 'object' || body === null) return [];
  const shaped = body as { errors?: unknown; error?: unknown; code?: unknown };
  if (Array.isArray(shaped.errors)) return shaped.errors as ErrorShape[];
  if (typeof shaped.error === 'object' && shaped.error !== null) return [shaped.error as ErrorShape];
  if (typeof shaped.code === 'string') return [shaped as ErrorShape];
  return [];
}

function gatewaysOwn(error: ErrorShape): boolean {
  const code = error.extensions?.code ?? error.code;
  if (code === 'INTERNAL_SERVER_ERROR') return true;
  if (typeof code !== 'string' || !CONTRACT_CODES.has(code)) return true;
  if (code !== 'UPSTREAM_UNAVAILABLE') return false;
  const message = typeof error.message === 'string' ? error.message : '';
  return error.extensions?.upstreamStatus === undefined && !message.startsWith('EPMware');
}

export type Availability = 'data' | 'refusal' | 'unavailable';

/** `status` null: no answer at all (a dropped connection, a hang). */
export function availabilityOf(status: number | null, body: unknown): Availability {
  if (status === null) return 'unavailable';
  const errors = errorsOf(body);
  if (errors.length === 0) return status < 400 ? 'data' : 'unavailable';
  return errors.some(gatewaysOwn) ? 'unavailable' : 'refusal';
}
