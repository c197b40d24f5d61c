/**
 * Is EPMWARE_URL an EPMware? Asked once at start-up (so an operator who mistyped it reads it under the banner
 * instead of in a user's first failed query) and by /readyz (which reuses a verdict for a few seconds).
 *
 * The question is one GET of a documented endpoint, `<EPMWARE_URL>/service/api/security/users`, with no token:
 * EPMware answers every endpoint without a token with 401 and its JSON error body (`{"status":"E","message":…}`,
 * see the docs' status codes and error response), so the probe needs no token, sends none anywhere, and spends
 * no rate-limit budget (EPMware's budget is per token). Any JSON answer but 404/405 means EPMware is there (a 503
 * from one of its services is the circuit breakers' business, not readiness'). A 404 or 405, a redirect, an HTML
 * page or any other non-JSON answer means the URL reaches some other server: a wrong path such as `/api/v2`, a
 * login page, a proxy's error page. No answer is "unreachable", with the cause in words.
 *
 * It never stops start-up: EPMware may come up later, and /readyz reports it meanwhile.
 */
import { request } from 'undici';
import { describeConnectError } from './upstream/connect-errors.ts';

/** The endpoint asked, relative to EPMWARE_URL (which never ends in /service/api: config.ts strips it). */
export const PROBE_PATH = '/service/api/security/users';

/** Enough of a body to tell JSON from a page; the rest is not read. */
const BODY_SAMPLE_BYTES = 4_096;

export type ProbeResult =
  | { verdict: 'epmware' }
  | { verdict: 'unreachable'; cause: string }
  | { verdict: 'not EPMware'; cause: string };

export async function probeUpstream(url: URL, timeoutMs: number): Promise<ProbeResult> {
  // Without user info or a trailing slash: this text goes into the log, /readyz and the banner.
  const target = `${url.origin}${url.pathname.replace(/\/+$/, '')}${PROBE_PATH}`;
  try {
    const response = await request(target, {
      method: 'GET',
      headers: { accept: 'application/json' },
      // One connection per probe, closed after it: nothing lingers in a pool between /readyz calls.
      reset: true,
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const sample = await readSample(response.body);
    return judge(
      target,
      response.statusCode,
      headerText(response.headers['content-type']),
      response.headers,
      sample,
    );
  } catch (error) {
    if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
      return { verdict: 'unreachable', cause: `no answer within ${timeoutMs} ms (firewall, or wrong host?)` };
    }
    return { verdict: 'unreachable', cause: describeConnectError(connectError(error)) };
  }
}

/** What an answer to the unauthenticated GET says about the server. */
function judge(
  target: string,
  status: number,
  contentType: string,
  headers: Record<string, string | string[] | undefined>,
  sample: string,
): ProbeResult {
  const answered = `GET ${target} answered ${status}`;
  if (status >= 300 && status < 400) {
    const location = headerText(headers.location);
    return { verdict: 'not EPMware', cause: `${answered} (a redirect${location ? ` to ${location}` : ''})` };
  }
  const json = isJson(contentType, sample);
  if (status === 404 || status === 405) return { verdict: 'not EPMware', cause: answered };
  if (!json)
    return { verdict: 'not EPMware', cause: `${answered} with ${describeBody(contentType, sample)}` };
  return { verdict: 'epmware' };
}

/** JSON by its content type, or by its first character when the type says nothing useful (only a sample is read). */
function isJson(contentType: string, sample: string): boolean {
  if (/\bjson\b/i.test(contentType)) return true;
  if (/html|xml/i.test(contentType)) return false;
  const start = sample.trimStart()[0];
  return start === '{' || start === '[';
}

function describeBody(contentType: string, sample: string): string {
  if (/html/i.test(contentType) || /^\s*<(!doctype|html)/i.test(sample)) return 'an HTML page';
  if (sample.trim() === '') return 'an empty body';
  return contentType ? `a ${contentType.split(';')[0]} body, not JSON` : 'a body that is not JSON';
}

async function readSample(body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    length += chunk.length;
    // Leaving the loop destroys the body: the rest is never read.
    if (length >= BODY_SAMPLE_BYTES) break;
  }
  return Buffer.concat(chunks).subarray(0, BODY_SAMPLE_BYTES).toString('utf8');
}

function headerText(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

/** undici wraps some connect failures: the one with the system error code is the one worth naming. */
function connectError(error: unknown): unknown {
  const cause = (error as { cause?: unknown }).cause;
  if ((error as { code?: unknown }).code === undefined && cause instanceof Error) return cause;
  return error;
}
