/**
 * The Relay node policy: how a global id decodes, which ids `node(id)` / `nodes(ids)` accept, what they cost
 * upstream, and what an id of an object EPMware no longer has resolves to. The builder's relay options point here;
 * this file imports nothing from the builder (it would be a cycle).
 */
import type { GraphQLInterfaceType, GraphQLResolveInfo } from 'graphql';
import { type Child, deeper, type FieldCost, type FieldCostInput, parsedBy } from '../cost/field-cost.ts';
import { GatewayError, InputError } from '../errors.ts';

interface GlobalId {
  typename: string;
  id: string;
}

/** A malformed global id is the client's mistake: BAD_USER_INPUT, not a masked internal error. */
export function decodeGlobalID(globalID: string): GlobalId {
  const decoded = Buffer.from(globalID, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || colon === decoded.length - 1 || Buffer.from(decoded).toString('base64') !== globalID) {
    throw new InputError(`Invalid global id: "${globalID}"`);
  }
  return { typename: decoded.slice(0, colon), id: decoded.slice(colon + 1) };
}

/**
 * node(id) / nodes(ids): an id naming no Node type of this schema is as malformed as one that does not decode
 * (BAD_USER_INPUT), and an object EPMware does not have (404) is null, as Relay expects, not an error.
 */
export async function resolveNodePolicy(
  id: GlobalId,
  info: GraphQLResolveInfo,
  resolveNode: (id: GlobalId) => unknown,
): Promise<unknown> {
  checkNodeType(id.typename, info);
  return nullWhenNotFound(await resolveNode(id));
}

export async function resolveNodesPolicy(
  ids: GlobalId[],
  info: GraphQLResolveInfo,
  resolveNodes: (ids: GlobalId[]) => Promise<readonly unknown[]> | readonly unknown[],
): Promise<unknown[]> {
  for (const id of ids) checkNodeType(id.typename, info);
  return (await resolveNodes(ids)).map(nullWhenNotFound);
}

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

/** node(id): what loading the id's type costs (each Node type declares it: `upstreamLoad`). */
export const nodeCost: FieldCost = (field) => nodesCostOf([field.args.id], field);

/** nodes(ids): each id what loading its type costs; one malformed id fails the whole field, which costs nothing. */
export const nodesCost: FieldCost = (field) => {
  const { ids } = field.args;
  return nodesCostOf(Array.isArray(ids) ? ids : [ids], field);
};

function nodesCostOf(ids: readonly unknown[], field: FieldCostInput): readonly Child[] {
  const byType = new Map<string, string[]>();
  for (const id of ids) {
    if (typeof id !== 'string') return [];
    const decoded = parsedBy(() => decodeGlobalID(id));
    if (!decoded) return [];
    const localIds = byType.get(decoded.typename);
    if (localIds) localIds.push(decoded.id);
    else byType.set(decoded.typename, [decoded.id]);
  }
  const children: Child[] = [];
  for (const [typename, localIds] of byType) {
    const loaded = field.selectLoaded(typename, localIds, deeper(field.place, { objects: localIds.length }));
    if (!loaded) return []; // no Node type of that name: checkNodeType refuses the field
    children.push(...loaded);
  }
  return children;
}
