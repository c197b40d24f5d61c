/**
 * Uploads in flight, capped per instance (MAX_CONCURRENT_UPLOADS) and per credential
 * (MAX_CONCURRENT_UPLOADS_PER_CREDENTIAL). An upload holds a client connection for as long as the client takes to
 * send its file (at the 1 KB/s pace floor, hours) and one of the upload lane's connections to EPMware, which allows
 * 10 uploads a minute per token: more at once from one token would only wait for EPMware's budget while holding
 * both. The caps are checked before a byte of the file is read (plugins/streaming-uploads.ts).
 *
 * Bounded: an entry exists only for a credential with an upload in flight, so there are at most
 * MAX_CONCURRENT_UPLOADS entries, and a released slot removes its entry when it was the credential's last.
 */
import { GatewayError } from './errors.ts';

export class UploadSlots {
  readonly #max: number;
  readonly #maxPerCredential: number;
  readonly #byCredential = new Map<string, number>();
  #inFlight = 0;

  constructor(max: number, maxPerCredential: number) {
    this.#max = max;
    this.#maxPerCredential = maxPerCredential;
  }

  /**
   * A slot for one upload of `credentialKey` (a credential's fingerprint, or a name for requests without one): its
   * release function (idempotent), or the RATE_LIMITED error that answers it instead.
   */
  claim(credentialKey: string): (() => void) | GatewayError {
    const held = this.#byCredential.get(credentialKey) ?? 0;
    if (held >= this.#maxPerCredential) {
      return new GatewayError(
        'RATE_LIMITED',
        `This token already has ${held} uploads in progress, the most allowed at once ` +
          '(MAX_CONCURRENT_UPLOADS_PER_CREDENTIAL): send this file once one of them has finished',
      );
    }
    if (this.#inFlight >= this.#max) {
      return new GatewayError(
        'RATE_LIMITED',
        `The gateway is already receiving ${this.#inFlight} uploads, the most it takes at once ` +
          '(MAX_CONCURRENT_UPLOADS): send this file again in a moment',
      );
    }
    this.#byCredential.set(credentialKey, held + 1);
    this.#inFlight += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight -= 1;
      const left = (this.#byCredential.get(credentialKey) ?? 1) - 1;
      if (left > 0) this.#byCredential.set(credentialKey, left);
      else this.#byCredential.delete(credentialKey);
    };
  }

  /** Uploads in flight, and how many credentials hold them (for the flood tests). */
  sizes(): { inFlight: number; credentials: number } {
    return { inFlight: this.#inFlight, credentials: this.#byCredential.size };
  }
}
