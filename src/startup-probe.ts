/**
 * One connection attempt to EPMware at start-up, so an operator who mistyped EPMWARE_URL (or started the gateway
 * before a tunnel or VPN was up) reads it in the first lines the process prints instead of in a user's first failed
 * query. It never stops start-up: EPMware may come up later, and /readyz reports it meanwhile. Like /readyz it is a
 * TCP connect: no token, no rate-limit budget.
 */
import { connect } from 'node:net';
import { describeConnectError } from './upstream/connect-errors.ts';

export type ProbeResult = { reachable: true } | { reachable: false; cause: string };

export function probeUpstream(url: URL, timeoutMs: number): Promise<ProbeResult> {
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (result: ProbeResult) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () =>
      finish({ reachable: false, cause: `no answer within ${timeoutMs} ms (firewall, or wrong host?)` }),
    );
    socket.once('connect', () => finish({ reachable: true }));
    socket.once('error', (error) => finish({ reachable: false, cause: describeConnectError(error) }));
  });
}
