/** The Pothos builder, its plugins and scalars. Types live in schema/, one file per domain. */
import SchemaBuilder from '@pothos/core';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import RelayPlugin from '@pothos/plugin-relay';
import type { GraphQLInterfaceType, GraphQLResolveInfo } from 'graphql';
import type { Context } from './context.ts';
import { GatewayError, InputError } from './errors.ts';
import { toUpload, type Upload } from './upload.ts';

export const builder = new SchemaBuilder<{
  Context: Context;
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    File: { Input: Upload; Output: never };
  };
  DefaultEdgesNullability: false;
}>({
  plugins: [RelayPlugin, DataloaderPlugin],
  relay: {
    cursorType: 'String',
    nodesOnConnection: true,
    edgesFieldOptions: { nullable: false },
    // A malformed global id is the client's mistake: BAD_USER_INPUT, not a masked internal error.
    decodeGlobalID: (globalID) => {
      const decoded = Buffer.from(globalID, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (
        colon <= 0 ||
        colon === decoded.length - 1 ||
        Buffer.from(decoded).toString('base64') !== globalID
      ) {
        throw new InputError(`Invalid global id: "${globalID}"`);
      }
      return { typename: decoded.slice(0, colon), id: decoded.slice(colon + 1) };
    },
    // node(id) / nodes(ids): an id naming no Node type of this schema is as malformed as one that does not decode
    // (BAD_USER_INPUT), and an object EPMware does not have (404) is null, as Relay expects, not an error.
    nodeQueryOptions: {
      resolve: async (_root, { id }, _ctx, info, resolveNode) => {
        checkNodeType(id.typename, info);
        return nullWhenNotFound(await resolveNode(id));
      },
    },
    nodesQueryOptions: {
      resolve: async (_root, { ids }, _ctx, info, resolveNodes) => {
        for (const id of ids) checkNodeType(id.typename, info);
        return (await resolveNodes(ids)).map(nullWhenNotFound);
      },
    },
  },
});

function checkNodeType(typename: string, info: GraphQLResolveInfo): void {
  // Asks the schema itself rather than graphql's isObjectType: an instanceof check across module copies fails.
  const node = info.schema.getType('Node') as GraphQLInterfaceType | undefined;
  const nodeTypes = node ? info.schema.getImplementations(node).objects : [];
  if (!nodeTypes.some((type) => type.name === typename)) {
    throw new InputError(`Invalid global id: no object type "${typename}" has ids`);
  }
}

function nullWhenNotFound(node: unknown): unknown {
  return node instanceof GatewayError && node.code === 'NOT_FOUND' ? null : node;
}

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

builder.scalarType('DateTime', {
  description: 'An ISO-8601 date and time, in UTC',
  serialize: (value) => (value instanceof Date ? value.toISOString() : new Date(value).toISOString()),
  parseValue: (value) => {
    const date = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
    if (Number.isNaN(date.getTime())) throw new InputError('DateTime must be an ISO-8601 string');
    return date;
  },
});

builder.scalarType('File', {
  description: 'A file sent as a part of a GraphQL multipart request',
  // Streamed by plugins/streaming-uploads.ts, or held whole by Yoga's own parser elsewhere: resolvers see an Upload.
  parseValue: toUpload,
  serialize: () => {
    throw new Error('File is an input-only scalar');
  },
});
