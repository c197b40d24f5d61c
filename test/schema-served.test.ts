/**
 * schema.graphql is what clients are served: the schema introspected from a running gateway (with Yoga's plugins,
 * which add @defer and @stream) prints exactly as the committed file. Code generators and editors read the file.
 */
import { readFileSync } from 'node:fs';
import {
  buildClientSchema,
  getIntrospectionQuery,
  type IntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
} from 'graphql';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Stack, startStack } from './harness.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

it('introspection from a running gateway prints as the committed schema.graphql, @defer and @stream included', async () => {
  const answer = await stack.graphql<IntrospectionQuery>(
    getIntrospectionQuery({ directiveIsRepeatable: true }),
  );
  expect(answer.errors).toBeUndefined();
  const served = `${printSchema(lexicographicSortSchema(buildClientSchema(answer.data as IntrospectionQuery)))}\n`;
  const committed = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
  expect(served).toContain('directive @defer(');
  expect(served).toBe(committed);
});
