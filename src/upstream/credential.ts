/**
 * An upstream credential. The token itself is kept in a private field so that logging, serialising or inspecting
 * a Credential (or anything holding one) shows only its fingerprint; the fingerprint is what caches, coalescing,
 * budgets and pollers key on, so nothing fetched with one token can be served to another.
 */
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { GatewayError } from '../errors.ts';

export class Credential {
  readonly #token: string;
  /** A short, stable, non-reversible name for this token: safe as a map key and in logs. */
  readonly fingerprint: string;
  /** EPMWARE_TOKEN standing in for a client that sent none: shared by every such client (see budgeted.ts). */
  readonly serviceToken: boolean;

  constructor(token: string, serviceToken = false) {
    this.#token = token;
    this.serviceToken = serviceToken;
    this.fingerprint = createHash('sha256').update(token).digest('hex').slice(0, 16);
  }

  /** The header EPMware expects. Only the upstream client calls this. */
  authorizationHeader(): string {
    return `Token ${this.#token}`;
  }

  /** For error scrubbing: the one place the raw token leaves this object. */
  appearsIn(text: string): boolean {
    return text.includes(this.#token);
  }

  toJSON(): { fingerprint: string } {
    return { fingerprint: this.fingerprint };
  }

  toString(): string {
    return `Credential(${this.fingerprint})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** What a client's Authorization value says. Only `absent` may fall back to EPMWARE_TOKEN. */
export type ClientAuthorization =
  | { kind: 'absent' }
  | { kind: 'token'; token: string }
  | { kind: 'malformed'; problem: string };

/**
 * A token is visible ASCII without spaces (RFC 7235's token68 is a subset): anything else cannot be a header
 * value EPMware would accept, and undici would refuse to send it (a control character) after the request had
 * already taken a budget slot.
 */
const TOKEN = /^[\x21-\x7e]+$/;
/**
 * The longest token accepted (contract, "Authentication"). EPMware's tokens are a few dozen characters, and a
 * JWT-style bearer token rarely passes 2 KB; a longer value cannot be a real token, and forwarded it makes
 * EPMware's front door refuse or reset the request, which would look like EPMware failing for everyone.
 */
export const MAX_TOKEN_CHARACTERS = 4_096;
const SCHEME = /^(?:token|bearer)$/i;
const HOW = 'send "Authorization: Token <t>" (EPMware\'s form) or "Authorization: Bearer <t>"';

/**
 * The token a client sent: `Token <t>` or `Bearer <t>`, scheme in any case. A value that is present but not of
 * that form is malformed, never "no token": silently using EPMWARE_TOKEN instead would hand a client that made a
 * typo the service account's data. Problems never quote the value, which may be the token itself.
 */
export function parseAuthorization(value: string | null | undefined): ClientAuthorization {
  if (value === null || value === undefined) return { kind: 'absent' };
  const words = value.trim().split(/[ \t]+/);
  const [scheme = '', token, ...rest] = words;
  if (scheme === '') return { kind: 'malformed', problem: `The Authorization header is empty: ${HOW}` };
  if (token === undefined) {
    return SCHEME.test(scheme)
      ? { kind: 'malformed', problem: `The Authorization header has no token after its scheme: ${HOW}` }
      : { kind: 'malformed', problem: `The Authorization header has no scheme: ${HOW}` };
  }
  if (!SCHEME.test(scheme))
    return { kind: 'malformed', problem: `Only the Token and Bearer schemes are accepted: ${HOW}` };
  if (rest.length > 0)
    return { kind: 'malformed', problem: `The Authorization header has more than one token: ${HOW}` };
  if (token.length > MAX_TOKEN_CHARACTERS) {
    return {
      kind: 'malformed',
      problem: `The token is longer than ${MAX_TOKEN_CHARACTERS.toLocaleString('en-US')} characters: no EPMware token is`,
    };
  }
  if (!TOKEN.test(token)) {
    return {
      kind: 'malformed',
      problem: 'The token must be visible ASCII characters without spaces (RFC 7235 token68)',
    };
  }
  return { kind: 'token', token };
}

/**
 * The credential for a request: the client's own token, else (with no Authorization at all) the configured
 * EPMWARE_TOKEN, else none. A malformed Authorization is an UNAUTHENTICATED error, whatever EPMWARE_TOKEN says.
 */
export function resolveCredential(
  header: string | null | undefined,
  fallbackToken: string | null,
): Credential | null {
  const parsed = parseAuthorization(header);
  if (parsed.kind === 'malformed') throw new GatewayError('UNAUTHENTICATED', parsed.problem);
  if (parsed.kind === 'token') return new Credential(parsed.token);
  return fallbackToken ? new Credential(fallbackToken, true) : null;
}

/**
 * HTTP Basic credentials as BI tools send them (Excel, Power BI, Tableau: "Basic" with a user name and password):
 * the password is the EPMware token, the user name anything. Only /odata and /reports accept them (see
 * `authorizationOf`). Undefined when the value is not Basic at all, so the caller falls back to
 * parseAuthorization; a Basic value without a usable password is malformed, never "no token". Problems never quote
 * the value.
 */
export function parseBasicAuthorization(value: string | null | undefined): ClientAuthorization | undefined {
  const match = /^[ \t]*basic(?:[ \t]+(.*))?$/i.exec(value ?? '');
  if (!match) return undefined;
  const encoded = (match[1] ?? '').trim();
  const HOW_BASIC = 'send Basic credentials with the EPMware token as the password (any user name)';
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) {
    return { kind: 'malformed', problem: `The Basic credentials are not base64: ${HOW_BASIC}` };
  }
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const password = colon >= 0 ? decoded.slice(colon + 1) : '';
  if (password === '')
    return { kind: 'malformed', problem: `The Basic credentials have no password: ${HOW_BASIC}` };
  return { kind: 'token', token: password };
}

/**
 * The Authorization value to run a /odata or /reports request with: Basic credentials become `Token <password>`,
 * so the token rules (parseAuthorization: characters, length) stay in one place; any other value passes as it
 * came. A Basic value without a usable password is a problem to answer with 401, in the Basic parser's words.
 */
export function authorizationOf(
  value: string | null | undefined,
): { authorization: string | null | undefined } | { problem: string } {
  const basic = parseBasicAuthorization(value);
  if (!basic) return { authorization: value };
  if (basic.kind === 'token') return { authorization: `Token ${basic.token}` };
  return { problem: basic.kind === 'malformed' ? basic.problem : 'No token' };
}
