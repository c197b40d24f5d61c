/**
 * An upstream credential. The token itself is kept in a private field so that logging, serialising or inspecting
 * a Credential (or anything holding one) shows only its fingerprint; the fingerprint is what caches, coalescing,
 * budgets and pollers key on, so nothing fetched with one token can be served to another.
 */
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';

export class Credential {
  readonly #token: string;
  /** A short, stable, non-reversible name for this token: safe as a map key and in logs. */
  readonly fingerprint: string;

  constructor(token: string) {
    this.#token = token;
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

/**
 * The token a client sent: `Token <t>` (EPMware's form) or `Bearer <t>`. Anything else counts as no token rather
 * than being forwarded: a malformed header is not something to pass on to EPMware.
 */
export function tokenFromAuthorization(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^(?:token|bearer)\s+(\S+)\s*$/i.exec(header.trim());
  return match?.[1] ?? null;
}

/** The credential for a request: the client's own token, else the configured EPMWARE_TOKEN, else none. */
export function resolveCredential(
  header: string | null | undefined,
  fallbackToken: string | null,
): Credential | null {
  const token = tokenFromAuthorization(header) ?? fallbackToken;
  return token ? new Credential(token) : null;
}
