/** The Pothos builder, its plugins and scalars. Types live in schema/, one file per domain. */
import SchemaBuilder from '@pothos/core';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import RelayPlugin from '@pothos/plugin-relay';
import type { Context } from './context.ts';
import UpstreamCostPlugin from './cost/cost-plugin.ts';
import { InputError } from './errors.ts';
import {
  decodeGlobalID,
  nodeCost,
  nodesCost,
  resolveNodePolicy,
  resolveNodesPolicy,
} from './schema/node-policy.ts';
import { toUpload, type Upload } from './upload.ts';

export const builder = new SchemaBuilder<{
  Context: Context;
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    File: { Input: Upload; Output: never };
  };
  DefaultEdgesNullability: false;
}>({
  // UpstreamCostPlugin: every field with a resolver says what it costs upstream (`upstream`; cost/).
  plugins: [RelayPlugin, DataloaderPlugin, UpstreamCostPlugin],
  relay: {
    cursorType: 'String',
    // The fields Relay generates read their parent (a page, an edge) or encode an id: no upstream call.
    nodesOnConnection: { upstream: 'none' },
    edgesFieldOptions: { nullable: false, upstream: 'none' },
    nodeFieldOptions: { upstream: 'none' },
    pageInfoFieldOptions: { upstream: 'none' },
    idFieldOptions: { upstream: 'none' },
    // The node policy (ids, node(id), nodes(ids)) lives in schema/node-policy.ts.
    decodeGlobalID,
    nodeQueryOptions: {
      upstream: nodeCost,
      resolve: (_root, { id }, _ctx, info, resolveNode) => resolveNodePolicy(id, info, resolveNode),
    },
    nodesQueryOptions: {
      upstream: nodesCost,
      resolve: (_root, { ids }, _ctx, info, resolveNodes) => resolveNodesPolicy(ids, info, resolveNodes),
    },
  },
});

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
