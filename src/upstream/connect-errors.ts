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
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed while sending',
  UND_ERR_SOCKET: 'connection closed by the other side',
  UND_ERR_CONNECT_TIMEOUT: 'no connection within the connect timeout',
};

/**
 * "ECONNREFUSED, connection refused: nothing listens on that port", or the error's own message: for the operator
 * (the start-up probe's warning, the log), so it may name the address.
 */
export function describeConnectError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string') return `${code}, ${CONNECT_CAUSES[code] ?? message}`;
  return message;
}

/**
 * The same in words a client may read: never the error's own message, which names the address tried
 * ("connect ETIMEDOUT 10.0.4.7:443", "getaddrinfo ENOTFOUND epm.internal", a certificate's host names), and
 * EPMware's address is not the client's business (contract, "Errors"). A code with no words here is given alone.
 */
export function describeConnectErrorForClients(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return 'the connection failed';
  const cause = CONNECT_CAUSES[code];
  return cause ? `${code}, ${cause}` : code;
}
