/**
 * CORS for /graphql: only the origins listed in `CORS_ORIGINS` get CORS headers; with none listed, only the
 * gateway's own pages (same-origin, which needs no CORS) can call it from a browser. Yoga's default would reflect
 * any origin, so the policy is always a function of the request.
 */
import type { CORSOptions } from 'graphql-yoga';

export function corsPolicy(allowedOrigins: readonly string[]): (request: Request) => CORSOptions {
  const allowed = new Set(allowedOrigins);
  return (request) => {
    const origin = request.headers.get('origin');
    if (!origin || !allowed.has(origin)) return false;
    return {
      origin: [origin],
      methods: ['GET', 'POST', 'OPTIONS'],
      // Requested headers are reflected (the origin is trusted): Authorization, the CSRF header, client names.
      exposedHeaders: ['x-request-id'],
      // Tokens travel in the Authorization header, never in cookies: no credentialed (cookie) requests.
      credentials: false,
      maxAge: 600,
    };
  };
}
