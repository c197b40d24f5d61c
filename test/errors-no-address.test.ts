/**
 * Error messages given to clients never contain EPMware's address (contract, "Errors"): a timeout, a reset
 * connection, a failed download say what failed and why, never where. (An unreachable EPMWARE_URL:
 * firsthour-http.test.ts; the operator reads the address in the start-up warning.)
 */
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeConnectErrorForClients } from '../src/upstream/connect-errors.ts';
import { type Stack, startStack } from './harness.ts';

let stack: Stack;
let address: { host: string; port: string };
beforeAll(async () => {
  stack = await startStack({
    env: { CACHE_TTL_MS: '0', UPSTREAM_TIMEOUT_MS: '400' },
    logStream: { write: () => {} },
  });
  const sim = new URL(stack.sim.url);
  address = { host: sim.hostname, port: sim.port };
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.sim.clearFaults();
  stack.sim.clearRequests();
});

function expectNoAddress(text: string): void {
  expect(text).not.toContain(address.host);
  expect(text).not.toContain(`:${address.port}`);
  expect(text).not.toContain(stack.sim.url);
}

describe('over GraphQL', () => {
  it('a timeout says which call did not answer, not where', async () => {
    stack.sim.injectFault({ path: '/service/api/security/users', delayMs: 2_000 });
    const answer = await stack.graphql('{ users { totalCount } }');
    expect(answer.errors?.[0]?.extensions?.code).toBe('UPSTREAM_TIMEOUT');
    expect(answer.errors?.[0]?.message).toBe('EPMware did not answer security/users in time');
    expectNoAddress(JSON.stringify(answer));
  });

  it('a reset connection names the cause, not the address', async () => {
    stack.sim.injectFault({ path: '/service/api/erp/run', reset: true });
    const answer = await stack.graphql('mutation { runErpImport(name: "Actuals") { taskId } }');
    expect(answer.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(answer.errors?.[0]?.message).toMatch(
      /^EPMware could not be reached for erp\/run \((ECONNRESET|UND_ERR_SOCKET)/,
    );
    expectNoAddress(JSON.stringify(answer));
  });
});

describe('the download route', () => {
  it("a reset download answers 503 with the cause and without EPMware's address", async () => {
    stack.sim.injectFault({ path: '/service/api/export/download_file/*', reset: true });
    const response = await request(`${stack.origin}/exports/${stack.sim.fixtures.exportTaskId}/file`, {
      headers: { authorization: `Token ${stack.token}` },
    });
    const text = await response.body.text();
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(text)).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expectNoAddress(text);
  });
});

describe('connection errors in words for clients', () => {
  it("never the error's own message, which names the address or host tried", () => {
    const timedOut = Object.assign(new Error('connect ETIMEDOUT 10.0.4.7:443'), { code: 'ETIMEDOUT' });
    expect(describeConnectErrorForClients(timedOut)).toBe('ETIMEDOUT, connection timed out');
    const certificate = Object.assign(
      new Error(
        "Hostname/IP does not match certificate's altnames: Host: epm.internal. is not in the cert's altnames",
      ),
      { code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
    );
    expect(describeConnectErrorForClients(certificate)).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(describeConnectErrorForClients(new Error('getaddrinfo failed for epm.internal'))).toBe(
      'the connection failed',
    );
  });
});
