/**
 * Refusals whose HTTP status is not the one their contract code implies: the OData error body still carries a
 * contract code (BAD_USER_INPUT), the status says what OData clients expect.
 */
import { GatewayError } from '../errors.ts';

/** 501: a feature the feed does not offer ($expand, $search, navigation paths). */
export class NotImplemented extends GatewayError {
  readonly status = 501;
  constructor(message: string) {
    super('BAD_USER_INPUT', message);
    this.name = 'NotImplemented';
  }
}

/** 405: the feed is read-only. */
export class MethodNotAllowed extends GatewayError {
  readonly status = 405;
  constructor(method: string) {
    super('BAD_USER_INPUT', `The feed is read-only: ${method.slice(0, 16)} is not allowed, use GET`);
    this.name = 'MethodNotAllowed';
  }
}
