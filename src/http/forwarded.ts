/**
 * What a proxy in front of the gateway says about the client, trusted only with TRUST_PROXY.
 *
 * The origin a client used to reach this gateway, for links the gateway hands out (Task.downloadUrl). Behind a
 * TLS-terminating proxy the request arrives as http://internal-host, and a link built from that is one browsers
 * block from an https page. With TRUST_PROXY=true the proxy's Forwarded (RFC 7239) or X-Forwarded-Proto /
 * X-Forwarded-Host headers say what the client used; without it those headers are ignored, because any client
 * can send them and a gateway reached directly must not let a request choose where its links point.
 */

export type HeaderReader = { get(name: string): string | null };

/** The first element of a comma-separated list: the value the proxy nearest the client wrote. */
function first(value: string | null): string | undefined {
  const item = value?.split(',')[0]?.trim();
  return item === '' ? undefined : item;
}

/** `for`, `proto` and `host` of the first Forwarded element (`for=1.2.3.4;proto=https;host=api.example.com, …`). */
function forwardedPairs(value: string | null): { for?: string; proto?: string; host?: string } {
  const element = first(value);
  if (!element) return {};
  const pairs: { for?: string; proto?: string; host?: string } = {};
  for (const pair of element.split(';')) {
    const [rawKey, ...rest] = pair.split('=');
    const key = rawKey?.trim().toLowerCase();
    const raw = rest.join('=').trim();
    const unquoted = raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
    if (key === 'for' || key === 'proto' || key === 'host') pairs[key] = unquoted;
  }
  return pairs;
}

/** A scheme and host that form an origin, or undefined (a malformed header falls back to the request's own). */
function originFrom(proto: string, host: string): string | undefined {
  const scheme = proto.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return undefined;
  if (!/^[a-z0-9.\-[\]:]+$/i.test(host)) return undefined;
  try {
    return new URL(`${scheme}://${host}`).origin;
  } catch {
    return undefined;
  }
}

export function publicOrigin(requestUrl: string, headers: HeaderReader, trustProxy: boolean): string {
  const own = new URL(requestUrl);
  if (!trustProxy) return own.origin;
  const forwarded = forwardedPairs(headers.get('forwarded'));
  const proto = forwarded.proto ?? first(headers.get('x-forwarded-proto')) ?? own.protocol.replace(/:$/, '');
  const host = forwarded.host ?? first(headers.get('x-forwarded-host')) ?? own.host;
  return originFrom(proto, host) ?? own.origin;
}

/**
 * The client's address, for its fair share of EPMWARE_TOKEN's budget: the socket's peer, or with TRUST_PROXY the
 * address the nearest proxy wrote (Forwarded `for=`, else X-Forwarded-For). Only a key: never logged.
 */
export function clientAddress(
  remoteAddress: string | undefined,
  headers: HeaderReader,
  trustProxy: boolean,
): string {
  const own = remoteAddress ?? 'unknown';
  if (!trustProxy) return own;
  return forwardedPairs(headers.get('forwarded')).for ?? first(headers.get('x-forwarded-for')) ?? own;
}
