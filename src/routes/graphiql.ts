/**
 * GraphiQL over HTTP: the small page (GET /graphql from a browser) and its assets under /graphiql/<version>/.
 *
 * The assets come from @graphql-yoga/render-graphiql (GraphiQL, Monaco's workers and styles, self-hosted: no CDN,
 * which a closed network or CI cannot reach). That module is 9 MB and takes a second or two to import, so it is
 * imported on the first page view (while the browser parses the page), never at start-up, and each file is
 * compressed once per encoding the first time a browser asks for it (brotli or gzip, in libuv's thread pool),
 * then kept: six files, at most three encodings each. Asset paths carry the package's version, so they are
 * served `immutable` for a year; the page itself is revalidated by ETag on every visit.
 *
 * Hand-written rather than a static-file library: the files live inside a JavaScript module, not on disk.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { brotliCompress, gzip, constants as zlib } from 'node:zlib';
import type { GraphiQLOptions } from 'graphql-yoga';
import { GRAPHIQL_ASSET_PREFIX, GRAPHIQL_START_SCRIPT, renderGraphiQLPage } from './graphiql-page.ts';
import { sendJson } from './respond.ts';

const VERSION = (
  createRequire(import.meta.url)('@graphql-yoga/render-graphiql/package.json') as { version: string }
).version;

/**
 * What the page may do: its own scripts only (no inline script, no eval), Monaco's injected styles, its own
 * workers, requests to this origin only; and no other site may frame it (clickjacking a run button).
 */
export const GRAPHIQL_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self'",
  "frame-ancestors 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "object-src 'none'",
].join('; ');

type Encoding = 'br' | 'gzip' | 'identity';

interface Asset {
  type: string;
  /** As the module holds it: the uncompressed bytes are made on demand (only clients without gzip ask for them),
   * not kept as a second 9 MB copy. */
  content: string | Buffer;
  /** Of the uncompressed bytes; the encoding is appended per variant. */
  hash: string;
}

const TYPES = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', ico: 'image/x-icon' };

function asset(type: string, content: string | Buffer): Asset {
  return { type, content, hash: createHash('sha256').update(content).digest('base64url').slice(0, 22) };
}

function bytesOf(item: Asset): Buffer {
  return typeof item.content === 'string' ? Buffer.from(item.content) : item.content;
}

let assetsLoading: Promise<Map<string, Asset>> | undefined;

/** Imports GraphiQL's bundle once, on first need. */
function loadAssets(): Promise<Map<string, Asset>> {
  assetsLoading ??= import('@graphql-yoga/render-graphiql/graphiql').then((bundle) => {
    const favicon = bundle.favicon.replace(/^data:[^,]*;base64,/, '');
    return new Map<string, Asset>([
      ['graphiql.js', asset(TYPES.js, bundle.js)],
      ['graphiql.css', asset(TYPES.css, bundle.css)],
      ['start.js', asset(TYPES.js, GRAPHIQL_START_SCRIPT)],
      ['favicon.ico', asset(TYPES.ico, Buffer.from(favicon, 'base64'))],
      ['editor.worker.js', asset(TYPES.js, bundle.editorWorkerService)],
      ['json.worker.js', asset(TYPES.js, bundle.jsonWorker)],
      ['graphql.worker.js', asset(TYPES.js, bundle.graphqlWorker)],
    ]);
  });
  return assetsLoading;
}

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);
/** Per asset and encoding; the key space is the fixed set of assets times two encodings. */
const compressed = new Map<string, Promise<Buffer>>();

function encoded(name: string, item: Asset, encoding: Encoding): Promise<Buffer> {
  if (encoding === 'identity') return Promise.resolve(bytesOf(item));
  const key = `${name} ${encoding}`;
  let variant = compressed.get(key);
  if (!variant) {
    // Brotli quality 5: within a few per cent of 11's size on this bundle at a fraction of the CPU.
    const bytes = bytesOf(item);
    variant =
      encoding === 'br'
        ? brotli(bytes, {
            params: { [zlib.BROTLI_PARAM_QUALITY]: 5, [zlib.BROTLI_PARAM_SIZE_HINT]: bytes.length },
          })
        : gzipAsync(bytes, { level: 6 });
    compressed.set(key, variant);
  }
  return variant;
}

/** The best encoding the client accepts (q=0 excludes); what browsers send picks brotli. */
export function chooseEncoding(acceptEncoding: string | undefined): Encoding {
  const accepted = new Map<string, number>();
  for (const part of (acceptEncoding ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q=([\d.]+)/.exec(p)?.[1]).find((value) => value !== undefined);
    if (name) accepted.set(name, q === undefined ? 1 : Number(q));
  }
  const weight = (name: string) => accepted.get(name) ?? accepted.get('*') ?? 0;
  if (weight('br') > 0) return 'br';
  if (weight('gzip') > 0) return 'gzip';
  return 'identity';
}

function notModified(req: IncomingMessage, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (!header) return false;
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === etag || tag === '*');
}

/** A browser asking for the page: GET /graphql with text/html among what it accepts (Yoga's own rule). */
export function isGraphiQLPageRequest(req: IncomingMessage): boolean {
  return (
    (req.method === 'GET' || req.method === 'HEAD') && Boolean(req.headers.accept?.includes('text/html'))
  );
}

/** The page for one gateway: rendered once, since its options do not change while the process runs. */
export function graphiqlPage(options: GraphiQLOptions) {
  const html = Buffer.from(renderGraphiQLPage(options, VERSION));
  const etag = `"${createHash('sha256').update(html).digest('base64url').slice(0, 22)}"`;
  return (req: IncomingMessage, res: ServerResponse): void => {
    // The browser's next requests are for the assets: start importing them now.
    void loadAssets();
    const headers = {
      'content-security-policy': GRAPHIQL_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      // Revalidate each visit (a cheap 304); the page names the assets' versioned paths.
      'cache-control': 'no-cache',
      etag,
    };
    if (notModified(req, etag)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/html; charset=utf-8',
      'content-length': html.length,
    });
    res.end(req.method === 'HEAD' ? undefined : html);
  };
}

/** GET /graphiql/<version>/<file>; never rejects (a failure is a 500 with a JSON body, not a crashed process). */
export async function serveGraphiQLAsset(
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    await sendAsset(path, req, res);
  } catch {
    if (res.headersSent) res.destroy();
    else sendJson(res, 500, { code: 'INTERNAL_SERVER_ERROR', message: 'GraphiQL files could not be served' });
  }
}

async function sendAsset(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const [version, name, ...rest] = path.slice(GRAPHIQL_ASSET_PREFIX.length).split('/');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return sendJson(res, 405, {
      code: 'BAD_USER_INPUT',
      message: `${req.method} is not allowed here: use GET`,
    });
  }
  const assets = version === VERSION && name && rest.length === 0 ? await loadAssets() : undefined;
  const item = name ? assets?.get(name) : undefined;
  if (!item || !name) {
    return sendJson(res, 404, {
      code: 'NOT_FOUND',
      message: `No GraphiQL file ${path}: open /graphql instead`,
    });
  }
  const encoding = chooseEncoding(req.headers['accept-encoding']);
  const etag = `"${item.hash}-${encoding}"`;
  const headers: Record<string, string | number> = {
    'content-type': item.type,
    'cache-control': 'public, max-age=31536000, immutable',
    'x-content-type-options': 'nosniff',
    vary: 'Accept-Encoding',
    etag,
  };
  if (notModified(req, etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const body = await encoded(name, item, encoding);
  if (encoding !== 'identity') headers['content-encoding'] = encoding;
  headers['content-length'] = body.length;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * Imports and compresses the assets ahead of the first visit (main.ts calls it shortly after start-up), so a
 * person's first GraphiQL load waits only for the browser, not for a 9 MB import and 5 MB of compression.
 */
export async function warmGraphiQLAssets(): Promise<void> {
  const assets = await loadAssets();
  for (const [name, item] of assets) await encoded(name, item, 'br');
}
