/**
 * CSRF prevention (Yoga's plugin): a browser sends a form post, a multipart post or a plain GET cross-site without a
 * CORS preflight, so those requests must carry a header a page cannot set without one. JSON posts are preflighted
 * and pass. Besides Yoga's own header, the names Apollo Client's upload and persisted-query links already send are
 * accepted, and so is Authorization: a page cannot add it cross-site without a preflight either, and it is what
 * urql's default GET queries carry. So those clients need no extra configuration.
 *
 * The plugin's own refusal ("Required CSRF header(s) not present") names neither the headers nor the way out, so
 * its error is replaced by one that does; the decision stays the library's.
 */
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';

/** The first is the one GraphiQL sends (graphiql.ts). */
export const CSRF_HEADERS = [
  'x-graphql-yoga-csrf',
  'apollo-require-preflight',
  'x-apollo-operation-name',
  'authorization',
];

export const CSRF_REFUSAL =
  'Refused as a possible cross-site request: a GET, form or multipart request must carry one of the headers ' +
  `${CSRF_HEADERS.join(', ')} (e.g. 'x-graphql-yoga-csrf: 1'), or be a POST with 'Content-Type: application/json'`;

export function csrfPreventionPlugin(): Plugin<Context> {
  const library = useCSRFPrevention({ requestHeaders: CSRF_HEADERS }) as Plugin<Context>;
  const check = library.onRequestParse;
  if (!check) throw new Error('useCSRFPrevention no longer checks in onRequestParse');
  return {
    onRequestParse(payload) {
      try {
        return check(payload);
      } catch {
        throw createGraphQLError(CSRF_REFUSAL, { extensions: { code: 'FORBIDDEN', http: { status: 403 } } });
      }
    },
  };
}
