/** The operation type of a GraphQL document, as a metric label and a log field (never the operation's name). */
import { type DocumentNode, getOperationAST } from 'graphql';

export type OperationKind = 'query' | 'mutation' | 'subscription' | 'unknown';

export function operationKind(
  document: DocumentNode | undefined,
  operationName?: string | null,
): OperationKind {
  if (!document) return 'unknown';
  return getOperationAST(document, operationName ?? undefined)?.operation ?? 'unknown';
}
