/**
 * The GraphiQL page as served: with the embedded simulator it carries the demo token and the starter tabs; against
 * a real EPMware (no demo token, EPMWARE_TOKEN or not) no token is ever in the page. It is self-hosted (no CDN), and
 * it names the CSRF header its requests carry.
 */
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOperationDocuments, formatProblem, loadSchema } from '../scripts/check-operations.ts';
import { graphiqlOptions, STARTER_RUN, STARTER_USERS, STARTER_WATCH } from '../src/routes/graphiql-page.ts';
import { type Stack, startStack } from './harness.ts';

let demo: Stack;
let real: Stack;
beforeAll(async () => {
  [demo, real] = await Promise.all([
    startStack({ demoToken: true }),
    // A "real" deployment: no demo token, but a server-side EPMWARE_TOKEN that must not leak into the page either.
    startStack({ env: { EPMWARE_TOKEN: 'server-side-secret-token' } }),
  ]);
});
afterAll(() => Promise.all([demo?.close(), real?.close()]));

async function graphiqlPage(stack: Stack): Promise<{ status: number; type: string | null; html: string }> {
  const response = await fetch(stack.url, { headers: { accept: 'text/html' } });
  return { status: response.status, type: response.headers.get('content-type'), html: await response.text() };
}

/** The options object the page hands to GraphiQL (a JSON block the start script reads). */
function embeddedOptions(html: string): Record<string, unknown> {
  const match = /<script id="graphiql-config" type="application\/json">([^<]*)<\/script>/.exec(html);
  expect(match).not.toBeNull();
  return (JSON.parse(match?.[1] ?? '{}') as { options: Record<string, unknown> }).options;
}

describe('GraphiQL page', () => {
  it('with the embedded simulator: the demo token in the headers and three starter tabs', async () => {
    const page = await graphiqlPage(demo);
    expect(page.status).toBe(200);
    expect(page.type).toContain('text/html');
    expect(page.html).toContain(demo.token);
    const options = embeddedOptions(page.html);
    expect(JSON.parse(String(options.headers))).toEqual({ Authorization: `Token ${demo.token}` });
    const tabs = options.defaultTabs as Array<{ query: string; headers: string; variables?: string }>;
    expect(tabs.map((tab) => tab.query)).toEqual([STARTER_USERS, STARTER_RUN, STARTER_WATCH]);
    expect(tabs.every((tab) => tab.headers.includes(demo.token))).toBe(true);
    expect(options.subscriptionsProtocol).toBe('SSE');
    expect(options.additionalHeaders).toEqual({ 'x-graphql-yoga-csrf': 'graphiql' });
    // Serving the page called nothing upstream.
    expect(demo.sim.requests()).toHaveLength(0);
  });

  it('against a real EPMware: no token in the page, no starter that would run a deployment', async () => {
    const page = await graphiqlPage(real);
    expect(page.status).toBe(200);
    expect(page.html).not.toContain(real.token);
    expect(page.html).not.toContain('server-side-secret-token');
    expect(page.html).not.toMatch(/Token [0-9a-f-]{8,}/i);
    const options = embeddedOptions(page.html);
    expect(options.headers).toBeUndefined();
    expect(options.defaultTabs).toBeUndefined();
    expect(options.additionalHeaders).toEqual({ 'x-graphql-yoga-csrf': 'graphiql' });
  });

  it('is self-hosted: GraphiQL and its editor workers come from this gateway, from no CDN', async () => {
    const { html } = await graphiqlPage(real);
    expect(html).not.toMatch(/<script[^>]+src=["']?https?:/i);
    expect(html).not.toMatch(/<link[^>]+href=["']?https?:/i);
    const scripts = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]);
    expect(scripts).toHaveLength(2);
    for (const src of scripts) {
      const response = await fetch(new URL(src ?? '', real.origin));
      expect(response.status, src).toBe(200);
      expect(response.headers.get('content-type')).toContain('javascript');
    }
  });

  it('the starter documents are valid against the schema, and the query and mutation run as they are', async () => {
    const starters = [STARTER_USERS, STARTER_RUN, STARTER_WATCH].map((source, index) => ({
      file: `starter tab ${index + 1}`,
      source,
    }));
    expect(checkOperationDocuments(loadSchema(), starters).map(formatProblem)).toEqual([]);
    for (const document of [STARTER_USERS, STARTER_RUN]) {
      const result = await demo.graphql(document);
      expect(result.errors, document).toBeUndefined();
    }
    // EPMware's own timeout must outlast the starter deployment, or the newcomer watches it fail.
    const runs = demo.sim.requests({ method: 'POST', path: '/service/api/deployment/run' });
    expect(runs.map((run) => run.body)).toEqual([{ name: 'ASOALL', timeout_min: 60 }]);
  });

  it('graphiqlOptions without a demo token names no Authorization header at all', () => {
    expect(JSON.stringify(graphiqlOptions())).not.toMatch(/authorization/i);
  });
});

describe('GraphiQL served small, compressed and cacheable', () => {
  async function get(url: string, headers: Record<string, string> = {}) {
    const response = await request(url, { headers });
    return {
      status: response.statusCode,
      headers: response.headers,
      bytes: Buffer.from(await response.body.arrayBuffer()),
    };
  }

  it('the page: a few KB, with a CSP that forbids inline scripts and framing by other sites, revalidated by ETag', async () => {
    const page = await get(demo.url.href, { accept: 'text/html' });
    expect(page.status).toBe(200);
    expect(page.bytes.length).toBeLessThan(16 * 1024);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("frame-ancestors 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-(inline|eval)/);
    // No inline script to allow: only script elements with a src, and the JSON options block.
    const html = page.bytes.toString();
    const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)([^>]*)>/g)].map((m) => m[1]);
    expect(inline).toEqual([' id="graphiql-config" type="application/json"']);
    expect(page.headers['cache-control']).toBe('no-cache');
    const again = await get(demo.url.href, {
      accept: 'text/html',
      'if-none-match': String(page.headers.etag),
    });
    expect(again.status).toBe(304);
    expect(again.bytes.length).toBe(0);
  });

  it('its assets: brotli or gzip as accepted, immutable, ETag per encoding, 304 when unchanged', async () => {
    const upstreamBefore = demo.sim.requests().length;
    const { html } = await graphiqlPage(demo);
    const src = /<script src="([^"]+graphiql\.js)"/.exec(html)?.[1] ?? '';
    const url = new URL(src, demo.origin).href;
    const plain = await get(url);
    const br = await get(url, { 'accept-encoding': 'gzip, deflate, br, zstd' });
    const gz = await get(url, { 'accept-encoding': 'gzip' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(br.headers['content-encoding']).toBe('br');
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(brotliDecompressSync(br.bytes).equals(plain.bytes)).toBe(true);
    expect(gunzipSync(gz.bytes).equals(plain.bytes)).toBe(true);
    expect(plain.bytes.length).toBeGreaterThan(1_000_000);
    expect(br.bytes.length).toBeLessThan(plain.bytes.length / 3);
    for (const each of [plain, br, gz]) {
      expect(each.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(each.headers.vary).toBe('Accept-Encoding');
      expect(each.headers['content-type']).toBe('text/javascript; charset=utf-8');
    }
    expect(new Set([plain.headers.etag, br.headers.etag, gz.headers.etag]).size).toBe(3);
    const revalidated = await get(url, { 'accept-encoding': 'br', 'if-none-match': String(br.headers.etag) });
    expect(revalidated.status).toBe(304);
    // The page names every worker Monaco starts, and each is served.
    const config = JSON.parse(
      /<script id="graphiql-config" type="application\/json">([^<]*)</.exec(html)?.[1] ?? '{}',
    );
    for (const worker of Object.values(config.workers as Record<string, string>)) {
      expect((await get(new URL(worker, demo.origin).href)).status, worker).toBe(200);
    }
    expect(demo.sim.requests()).toHaveLength(upstreamBefore);
  });

  it('an unknown asset or an old version: 404 JSON that points at /graphql', async () => {
    for (const path of ['/graphiql/0.0.0/graphiql.js', '/graphiql/x/../../etc/passwd', '/graphiql/']) {
      const answer = await get(new URL(path, demo.origin).href);
      expect(answer.status, path).toBe(404);
      expect(JSON.parse(answer.bytes.toString())).toMatchObject({ code: 'NOT_FOUND' });
    }
  });
});
