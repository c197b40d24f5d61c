/**
 * A plain HTTP client for the OData feed, as Excel or Power BI would use it: a GET with Basic credentials (the
 * token as the password) or a Token header, the parsed body and the headers that matter.
 */
import { request } from 'undici';
import type { Stack } from './harness.ts';

export interface ODataAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The parsed JSON body (undefined for XML and text answers). */
  json: ODataBody | undefined;
}

export interface ODataBody {
  '@odata.context'?: string;
  '@odata.count'?: number;
  '@odata.nextLink'?: string;
  value?: Array<Record<string, unknown>>;
  error?: { code: string; message: string };
  [property: string]: unknown;
}

export function basic(token: string, user = 'excel'): string {
  return `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
}

/** GET `pathOrUrl` (relative to the stack's origin, or a nextLink) with the stack's token unless told otherwise. */
export async function odata(
  stack: Pick<Stack, 'origin' | 'token'>,
  pathOrUrl: string,
  options: { authorization?: string | null; headers?: Record<string, string>; method?: string } = {},
): Promise<ODataAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  const authorization = options.authorization === undefined ? basic(stack.token) : options.authorization;
  if (authorization !== null) headers.authorization = authorization;
  const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${stack.origin}${pathOrUrl}`;
  const answer = await request(url, { method: options.method ?? 'GET', headers });
  const text = await answer.body.text();
  let json: ODataBody | undefined;
  if (String(answer.headers['content-type'] ?? '').startsWith('application/json')) json = JSON.parse(text);
  return { status: answer.statusCode, headers: answer.headers, text, json };
}

/** Every entity of a collection, following @odata.nextLink; the pages' sizes too. */
export async function followAll(
  stack: Pick<Stack, 'origin' | 'token'>,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ entities: Array<Record<string, unknown>>; pages: number[] }> {
  const entities: Array<Record<string, unknown>> = [];
  const pages: number[] = [];
  let next: string | undefined = path;
  while (next) {
    const answer = await odata(stack, next, { headers });
    if (answer.status !== 200) throw new Error(`${answer.status} ${answer.text}`);
    const body = answer.json as ODataBody;
    entities.push(...(body.value ?? []));
    pages.push(body.value?.length ?? 0);
    next = body['@odata.nextLink'];
  }
  return { entities, pages };
}
