import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // One graphql for everyone, as Node itself resolves it (its `main`, the CommonJS build): Vite would otherwise
    // give our sources the ESM build (`module`) while dependencies Node loads get the CommonJS one, and graphql's
    // instanceof checks fail between the two copies.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each file starts its own simulator and gateway on port 0; files run in parallel workers.
    pool: 'forks',
  },
});
