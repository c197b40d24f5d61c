/**
 * Uploads on their own lane (issue #19: sixteen uploads at 2.4 KB/s held every connection to EPMware, and another
 * token's query timed out after 34.6 s). Uploads go through a pool of their own, so while many trickle in, another
 * token's uncached queries are sent and answered: proven by order, not by time. Every query answers, and the
 * simulator receives its read, while all sixteen uploads are still open; only then are the uploads let finish.
 */
import { expect, it, onTestFinished } from 'vitest';
import { stackForFile } from './harness.ts';
import { tricklingUpload } from './raw-upload.ts';
import { waitFor } from './subscription-clients.ts';

const UPLOAD_PATH = '/service/api/erp/upload_file';
/** Two tokens of the primary tenant, eight uploads each: within EPMware's 10 uploads a minute per token. */
const UPLOAD_TOKENS = ['lane-uploader-a-5b7f1e', 'lane-uploader-b-0c2d94'];
const UPLOADS = 16;
const QUERIES = 5;

const stack = stackForFile({
  simulator: { extraTokens: UPLOAD_TOKENS },
  env: {
    CACHE_TTL_MS: '0',
    MAX_CONCURRENT_UPLOADS: String(UPLOADS),
    MAX_CONCURRENT_UPLOADS_PER_CREDENTIAL: String(UPLOADS / 2),
  },
  logStream: { write: () => {} },
});

it('sixteen uploads trickling at 2.4 KB/s: another token’s uncached queries answer while every upload is open', async () => {
  let released = false;
  // Without the lane the first query never answers (undici keeps a queued request until a connection frees, even
  // past its deadline): the test then fails on its timeout, and this lets the uploads end for the teardown.
  onTestFinished(() => {
    released = true;
  });
  const uploads = Array.from({ length: UPLOADS }, (_, i) =>
    tricklingUpload(stack, UPLOAD_TOKENS[i % 2] ?? '', () => released),
  );
  try {
    // Every upload has reached EPMware and holds an upstream connection.
    await waitFor(() => stack.sim.requests({ path: UPLOAD_PATH }).length === UPLOADS, 20_000);
    const other = stack.sim.tokens.secondary;
    for (let query = 0; query < QUERIES; query++) {
      const answer = await stack.graphql<{ users: { totalCount: number } }>(
        '{ users { totalCount } }',
        undefined,
        { token: other },
      );
      expect(answer.errors).toBeUndefined();
      expect(answer.data?.users.totalCount).toBeGreaterThan(0);
      // Answered while every upload is still in flight, on both sides of the gateway.
      expect(uploads.filter((upload) => upload.settled)).toEqual([]);
      expect(stack.sim.requests({ path: UPLOAD_PATH }).map((entry) => entry.status)).toEqual(
        Array(UPLOADS).fill(0),
      );
    }
    // EPMware received each query's read (uncached: one per query) while the uploads were open.
    const reads = stack.sim.requests({ path: '/service/api/security/users' });
    expect(reads.map((entry) => entry.token)).toEqual(Array(QUERIES).fill(other));
  } finally {
    released = true;
  }
  const answers = await Promise.all(uploads.map((upload) => upload.result));
  for (const answer of answers) expect(answer.data?.uploadErpFile?.taskId).toBeTruthy();
  expect(stack.sim.requests({ path: UPLOAD_PATH }).filter((entry) => entry.status === 200)).toHaveLength(
    UPLOADS,
  );
}, 30_000);
