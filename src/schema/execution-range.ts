/**
 * Which executions a field reports: a time range on startedAt and a state, checked before any upstream call.
 * `since` is inclusive and `until` exclusive, so consecutive ranges (a day, then the next) never count a run twice.
 */
import { InputError } from '../errors.ts';
import { type ExecutionSource, type ExecutionStateValue, executionState, upstreamDate } from './execution.ts';

export interface ExecutionRange {
  since?: Date | null;
  until?: Date | null;
}

export interface ExecutionSelection extends ExecutionRange {
  state?: ExecutionStateValue | null;
}

/** BAD_USER_INPUT for a range that ends before it starts; an empty range (since = until) is valid and empty. */
export function checkRange({ since, until }: ExecutionRange): void {
  if (since && until && since.getTime() > until.getTime()) {
    throw new InputError(`since (${since.toISOString()}) is after until (${until.toISOString()})`);
  }
}

/** A field's range and state, parsed or as sent (the demand estimate reads them before GraphQL coerces them). */
interface SelectionArgs {
  since?: unknown;
  until?: unknown;
  state?: unknown;
}

/** Whether a range or a state is given. */
export function isSelective({ since, until, state }: SelectionArgs): boolean {
  return Boolean(since || until || state);
}

/** Which history the field reads: latest_only=Y only without a range or state (see executionsIn). */
export function readsLatestOnly(latestOnly: boolean, selection: SelectionArgs): boolean {
  return latestOnly && !isSelective(selection);
}

/**
 * The executions in the range and state, in EPMware's order (newest first). A run without a readable start date
 * cannot be placed in a range: it is left out whenever since or until is given.
 */
export function selectExecutions<S extends ExecutionSource>(
  history: readonly S[],
  { since, until, state }: ExecutionSelection,
): S[] {
  return history.filter((source) => {
    if (state && executionState(source.row.statusMeaning) !== state) return false;
    if (!since && !until) return true;
    const started = upstreamDate(source.row.startDate)?.getTime();
    if (started === undefined) return false;
    return (!since || started >= since.getTime()) && (!until || started < until.getTime());
  });
}

/**
 * The executions a field asks for. Without a range or state, latestOnly is EPMware's own latest_only=Y; with
 * one, the whole history (the answer stats share) is filtered and latestOnly keeps the newest match.
 */
export async function executionsIn<S extends ExecutionSource>(
  load: (latestOnly: boolean) => Promise<S[]>,
  latestOnly: boolean,
  selection: ExecutionSelection,
): Promise<S[]> {
  checkRange(selection);
  const history = await load(readsLatestOnly(latestOnly, selection));
  if (!isSelective(selection)) return history;
  const matching = selectExecutions(history, selection);
  return latestOnly ? matching.slice(0, 1) : matching;
}
