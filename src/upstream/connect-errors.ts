/**
 * A failed connection in words a person acts on: the start-up probe's warning and a failed query's message say it
 * the same way. No imports, so main.ts can load it before the configuration is known to be valid.
 */

const CONNECT_CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused: nothing listens on that port',
  ENOTFOUND: 'host name not found (DNS)',
  EAI_AGAIN: 'host name could not be resolved (DNS temporarily failing)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
};

/** "ECONNREFUSED, connection refused: nothing listens on that port", or the error's own message. */
export function describeConnectError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string') return `${code}, ${CONNECT_CAUSES[code] ?? message}`;
  return message;
}
