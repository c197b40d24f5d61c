/**
 * Every GraphQL answer (GET and POST /graphql, SSE, @defer/@stream parts) carries `Cache-Control: private,
 * no-store`: it holds data fetched with one credential (the client's token, or EPMWARE_TOKEN), which no shared
 * cache (a CDN, a corporate proxy) may keep and serve to someone else, and no browser may keep on disk. A GET
 * query is otherwise cacheable by default in HTTP's eyes. Set on all of them rather than on those that fetched
 * something: an answer without upstream data (introspection) loses nothing by it, and one rule cannot be missed.
 * The routes outside Yoga set it themselves (routes/export-download.ts, routes/reports.ts).
 */
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';

export const PRIVATE_ANSWER = 'private, no-store';

export function privateAnswersPlugin(): Plugin<Context> {
  return {
    onResponse({ response }) {
      response.headers.set('cache-control', PRIVATE_ANSWER);
    },
  };
}
