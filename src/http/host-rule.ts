/**
 * The Host rule (contract, "Hosts and the service token"): EPMWARE_TOKEN serves requests that carry no token of
 * their own, so a browser page must not be able to send such requests here. DNS rebinding does exactly that: a
 * page on rebind.evil.example re-resolves its own name to this gateway's address, and the browser then treats the
 * gateway as same-origin with the page (no CORS, no Origin check helps); the one thing it cannot forge is the Host
 * header, which still says rebind.evil.example. So a request that would be served with the service token is
 * answered only when its host is `localhost`, an IP literal (no rebinding page can send either), or listed in
 * ALLOWED_HOSTS. With ALLOWED_HOSTS set every other host name is refused, token or not; `*` allows any.
 * /healthz, /readyz and /metrics pass whatever the host: orchestrators probe by address or by a name of theirs.
 *
 * One module, called from both doors: gateway.ts' request handler (every HTTP route, before routing) and
 * transports/websocket.ts (the upgrade, and connection_init, where a WebSocket's token arrives). A Yoga plugin
 * would see neither the upgrade nor the routes outside Yoga. Hand-written: the rule hangs on EPMWARE_TOKEN and on
 * whether this request brings its own token, which no host-allowlist middleware knows about.
 *
 * The host is the `Host` header or, with TRUST_PROXY, the host the proxy forwarded (forwarded.ts, which also
 * builds Task.downloadUrl from it: once this rule has passed a request, its host is one this gateway answers to).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { publicOrigin } from './forwarded.ts';

/** What a request's host allows: everything, only requests with their own token, or nothing. */
export type HostStanding = 'trusted' | 'own-token-only' | 'refused';

interface HostRuleConfig {
  allowedHosts: readonly string[] | null;
  trustProxy: boolean;
  epmwareToken: string | null;
}

/** Answered whatever the host (the contract's operations routes). */
const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export const NOT_ALLOWED_HOST_MESSAGE =
  'This host name is not in ALLOWED_HOSTS: reach the gateway by a listed name, localhost or its IP address';
export const SERVICE_TOKEN_HOST_MESSAGE =
  'A request without a token of its own is answered only on localhost, an IP address or a host listed in ' +
  'ALLOWED_HOSTS: send "Authorization: Token <t>" (or Bearer)';

/** The host name and port a request was addressed to; null when its Host header is no host. */
function addressedHost(
  headers: IncomingHttpHeaders,
  trustProxy: boolean,
): { hostname: string; port: string } | null {
  const host = headers.host;
  if (!host) return null;
  try {
    const reader = {
      get(name: string): string | null {
        const value = headers[name];
        return Array.isArray(value) ? value.join(', ') : (value ?? null);
      },
    };
    const url = new URL(publicOrigin(`http://${host}`, reader, trustProxy));
    return { hostname: url.hostname, port: url.port || (url.protocol === 'https:' ? '443' : '80') };
  } catch {
    return null;
  }
}

export class HostRule {
  readonly #allowed: ReadonlySet<string> | null;
  readonly #any: boolean;
  readonly #trustProxy: boolean;
  readonly #serviceToken: boolean;

  constructor(config: HostRuleConfig) {
    this.#allowed = config.allowedHosts ? new Set(config.allowedHosts) : null;
    this.#any = this.#allowed?.has('*') ?? false;
    this.#trustProxy = config.trustProxy;
    this.#serviceToken = config.epmwareToken !== null;
  }

  /** What this request's host allows (the path decides nothing here: see refuseHttp for the probes). */
  standing(headers: IncomingHttpHeaders): HostStanding {
    if (this.#any) return 'trusted';
    const host = addressedHost(headers, this.#trustProxy);
    if (host && this.#trusted(host.hostname, host.port)) return 'trusted';
    return this.#allowed ? 'refused' : 'own-token-only';
  }

  /**
   * Whether a request that brings no token of its own may be served (with EPMWARE_TOKEN) on this host. Without
   * EPMWARE_TOKEN there is nothing to lend: such a request gets UNAUTHENTICATED wherever it comes from.
   */
  lendsServiceToken(standing: HostStanding): boolean {
    return standing === 'trusted' || !this.#serviceToken;
  }

  /**
   * The HTTP door: answers 403 FORBIDDEN (and returns true) for a request this host may not be served; nothing
   * has been read or sent upstream then. A CORS preflight carries no token and fetches nothing: only an unlisted
   * host (with ALLOWED_HOSTS) refuses it.
   */
  refuseHttp(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (PROBE_PATHS.has(path)) return false;
    const standing = this.standing(req.headers);
    if (standing === 'refused') {
      sendForbidden(res, path, NOT_ALLOWED_HOST_MESSAGE);
      return true;
    }
    const ownToken = req.headers.authorization !== undefined;
    if (ownToken || req.method === 'OPTIONS' || this.lendsServiceToken(standing)) return false;
    sendForbidden(res, path, SERVICE_TOKEN_HOST_MESSAGE);
    return true;
  }

  #trusted(hostname: string, port: string): boolean {
    if (hostname === 'localhost' || isIP(hostname.replace(/^\[|\]$/g, '')) !== 0) return true;
    return (
      this.#allowed !== null && (this.#allowed.has(hostname) || this.#allowed.has(`${hostname}:${port}`))
    );
  }
}

/** 403 in the body shape each route speaks: GraphQL's errors, OData's error, or the routes' `{code, message}`. */
function sendForbidden(res: ServerResponse, path: string, message: string): void {
  const body =
    path === '/graphql'
      ? { errors: [{ message, extensions: { code: 'FORBIDDEN' } }] }
      : path === '/odata' || path.startsWith('/odata/')
        ? { error: { code: 'FORBIDDEN', message } }
        : { code: 'FORBIDDEN', message };
  res.writeHead(403, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'close',
  });
  res.end(JSON.stringify(body));
}
