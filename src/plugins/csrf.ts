/**
 * CSRF prevention (Yoga's plugin): a browser sends a form post, a multipart post or a plain GET cross-site without a
 * CORS preflight, so those requests must carry a header a page cannot set without one. JSON posts are preflighted
 * and pass. Besides Yoga's own header, the names Apollo Client's upload and persisted-query links already send are
 * accepted, and so is Authorization: a page cannot add it cross-site without a preflight either, and it is what
 * urql's default GET queries carry. So those clients need no extra configuration.
 */
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';

/** The first is the one GraphiQL sends (graphiql.ts). */
export const CSRF_HEADERS = [
  'x-graphql-yoga-csrf',
  'apollo-require-preflight',
  'x-apollo-operation-name',
  'authorization',
];

export function csrfPreventionPlugin(): Plugin<Context> {
  return useCSRFPrevention({ requestHeaders: CSRF_HEADERS }) as Plugin<Context>;
}
