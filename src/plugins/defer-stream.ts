/**
 * @defer and @stream through Yoga's plugin (@graphql-yoga/plugin-defer-stream): both directives in the schema and
 * their validation rules; multipart/mixed and SSE responses are Yoga's own. A deferred fragment's fields are
 * ordinary fields to every limit (depth, cost, upstream calls), since the document is validated whole.
 *
 * Our own part is error masking of the later payloads. envelop's masking maps `errors` of each result but not
 * `incremental[].errors`, where a deferred field's errors travel: without this a deferred field's error would
 * reach the client unmasked (an internal message) and without the contract's `extensions.code`.
 */
import { useDeferStream } from '@graphql-yoga/plugin-defer-stream';
import { handleStreamOrSingleExecutionResult, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';

export type MaskError = (error: unknown, message: string) => Error;

/** envelop's per-result hook (its types package is only a transitive dependency: taken from the function). */
type OnNextResult = Parameters<typeof handleStreamOrSingleExecutionResult<Context>>[1];

/** Yoga's own message for a masked error (its maskedErrors default). */
const MASKED_MESSAGE = 'Unexpected error.';

export function deferStreamPlugins(maskError: MaskError): Plugin<Context>[] {
  const maskIncremental: OnNextResult = ({ result, setResult }) => {
    if (!('incremental' in result) || !result.incremental?.some((part) => part.errors?.length)) return;
    setResult({
      ...result,
      incremental: result.incremental.map((part) =>
        part.errors
          ? { ...part, errors: part.errors.map((error: unknown) => maskError(error, MASKED_MESSAGE)) }
          : part,
      ),
    } as typeof result);
  };
  return [
    useDeferStream() as Plugin<Context>,
    {
      onExecute: () => ({
        onExecuteDone: (payload) => handleStreamOrSingleExecutionResult(payload, maskIncremental),
      }),
    },
  ];
}
