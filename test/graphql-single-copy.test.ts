/**
 * One graphql in the process, as Node resolves it (the CommonJS build, `main`), under vitest too
 * (vitest.config.ts): with two copies, graphql's instanceof checks (isObjectType, `instanceof GraphQLError` in
 * graphql-ws) fail between objects of one and functions of the other, and code grows duck-typed workarounds.
 */
import { GraphQLError, isObjectType } from 'graphql';
import { createGraphQLError } from 'graphql-yoga';
import { expect, it } from 'vitest';
import { schema } from '../src/schema/index.ts';

it('the schema Pothos built and the errors Yoga makes are of the graphql our code imports', () => {
  expect(createGraphQLError('refused')).toBeInstanceOf(GraphQLError);
  expect(isObjectType(schema.getQueryType())).toBe(true);
});
