/**
 * Why Redis cannot be used, in words an operator acts on (the log line and /readyz): "unreachable" when the
 * connection fails (wrong host or port, Redis not running, TLS against a plain port), "unusable" when Redis answers
 * but refuses this REDIS_URL (wrong password, a database number it does not have), which retrying will not cure.
 * Messages come from Redis or the socket and never contain the URL's password.
 */
import { describeConnectError } from '../upstream/connect-errors.ts';

export type RedisProblemKind = 'unreachable' | 'unusable' | 'not answering';

export interface RedisProblem {
  kind: RedisProblemKind;
  cause: string;
}

const AUTH_FAILED = /^(WRONGPASS|NOAUTH)\b|invalid password|invalid username-password/i;
const NO_SUCH_DATABASE = /DB index is out of range|invalid DB index/i;

/** The problem an error from the connection shows; `database` is REDIS_URL's database number. */
export function redisProblem(error: unknown, where: string, database: number): RedisProblem {
  const message = error instanceof Error ? error.message : String(error);
  if (AUTH_FAILED.test(message)) {
    return {
      kind: 'unusable',
      cause: `authentication failed (${message.trim()}): check the user name and password in REDIS_URL`,
    };
  }
  if (NO_SUCH_DATABASE.test(message)) {
    return { kind: 'unusable', cause: noSuchDatabase(database, message) };
  }
  const code = (error as { code?: unknown }).code;
  if (code === 'ETIMEDOUT') {
    return { kind: 'unreachable', cause: `ETIMEDOUT, no connection within the connect timeout (${where})` };
  }
  if (typeof code === 'string')
    return { kind: 'unreachable', cause: `${describeConnectError(error)} (${where})` };
  return { kind: 'unreachable', cause: `${message} (${where})` };
}

export function noSuchDatabase(database: number, message: string): string {
  return (
    `database ${database} cannot be selected (${message.trim()}): this Redis has fewer databases ` +
    '(its "databases" setting); use another number in REDIS_URL'
  );
}
