/**
 * What each field costs upstream, as the resolvers make their calls (the README's "Demand control" table says the
 * same in prose). A field not listed makes no call of its own; its object is walked one level deeper. A new field
 * that calls EPMware needs an entry here: test/demand-estimate.test.ts fails for a root field without one.
 *
 * Keyed calls (`tally.once`) are made at most once per request and key, however often the document asks:
 * - the users list (per userType), the groups list and the memberships map: the SecurityDirectory fetches each
 *   once per request, so nested users/groups queries cost a constant, never a multiple of their size;
 * - a lone user's groups / a lone group's members (the per-entity endpoints, used while a batch names one only):
 *   at most one per membership field level, since the fields of one level resolve in one DataLoader batch;
 * - an execution history per (kind, name, latestOnly): a DataLoader with a per-request cache.
 * A mutation drops the directory (its writes change what it holds), so each user mutation gets a fresh `scope`.
 * Repeated calls (`tally.each`) are made every time the field resolves: a task's status, its log, a write.
 */
import type { GraphQLNamedType, GraphQLObjectType, GraphQLOutputType, GraphQLSchema } from 'graphql';
import { nameKey } from '../directory.ts';
import { MAX_CONFIGURATION_NAMES } from '../schema/execution.ts';
import { MAX_BULK_USERS } from '../validation.ts';
import type { Tally } from './estimate.ts';

/** Where in the document a selection runs. */
export interface Place {
  /** Security reads are shared within a scope: the request, or one user mutation (which drops them). */
  scope: string;
  /** Field depth from the root: membership fields at one depth resolve in one batch. */
  depth: number;
  /** How many objects this selection runs for (tasks: each one's log is its own call). */
  objects: number;
  /** Deployment / Export: the configuration names. */
  names?: readonly string[];
  /** Task: whether its status still has to be fetched when a field needs it (run mutations answer lazily). */
  lazyStatus?: boolean;
}

export interface Child {
  type: GraphQLObjectType;
  place: Place;
}

interface CostInput {
  args: Record<string, unknown>;
  place: Place;
  tally: Tally;
  schema: GraphQLSchema;
  returnType: GraphQLOutputType;
}

type FieldCost = (input: CostInput) => Child[];

// Duck-typed rather than graphql's isObjectType/getNamedType: their instanceof checks fail when the schema was
// built by another copy of graphql (vitest loads the ESM build next to Pothos' CommonJS one).
function isObject(type: GraphQLNamedType | undefined): type is GraphQLObjectType {
  return Object.prototype.toString.call(type) === '[object GraphQLObjectType]';
}

export function namedObjectType(
  schema: GraphQLSchema,
  type: GraphQLOutputType,
): GraphQLObjectType | undefined {
  let named: { ofType?: unknown; name?: unknown } = type;
  while (named.ofType) named = named.ofType as typeof named;
  return typeof named.name === 'string' ? objectType(schema, named.name) : undefined;
}

function objectType(schema: GraphQLSchema, name: string): GraphQLObjectType | undefined {
  const type = schema.getType(name);
  return isObject(type) ? type : undefined;
}

function child(schema: GraphQLSchema, typeName: string, place: Place): Child[] {
  const type = objectType(schema, typeName);
  return type ? [{ type, place }] : [];
}

function deeper(place: Place, changes: Partial<Place> = {}): Place {
  return { scope: place.scope, depth: place.depth + 1, objects: place.objects, ...changes };
}

/** A list argument as sent: a lone value counts as a list of one (as GraphQL coerces it); an ID may be a number. */
function strings(value: unknown): string[] {
  const items = Array.isArray(value) ? value : [value];
  return items.flatMap((item) =>
    typeof item === 'string' || typeof item === 'number' ? [String(item)] : [],
  );
}

/** Names the resolver accepts (the same checks as checkConfigurationNames); null when it refuses them all. */
function configurationNames(value: unknown): string[] | null {
  const names = strings(value);
  if (names.length > MAX_CONFIGURATION_NAMES || names.some((name) => name.trim() === '')) return null;
  return names;
}

function configurations(kind: 'Deployment' | 'Export', single: boolean): FieldCost {
  return ({ args, place, schema }) => {
    const names = configurationNames(single ? args.name : args.names);
    return names ? child(schema, kind, deeper(place, { names, objects: names.length })) : [];
  };
}

function history(kind: 'deployment' | 'export', latest: 'argument' | 'latest' | 'whole'): FieldCost {
  return ({ args, place, tally, schema, returnType }) => {
    // With a range or a state, executions(latestOnly: true) reads the whole history (execution-range.ts), as
    // stats always does: both share the latest_only=N call.
    const filtered = args.since != null || args.until != null || args.state != null;
    const latestOnly =
      latest === 'latest' || (latest === 'argument' && args.latestOnly === true && !filtered);
    for (const name of new Set(place.names ?? [])) tally.once(`history:${kind}:${name}:${latestOnly}`);
    const type = namedObjectType(schema, returnType);
    return type ? [{ type, place: deeper(place) }] : [];
  };
}

/** Task fields answered from the id alone (see run-mutations.ts); any other needs the status. */
const TASK_FIELDS_WITHOUT_STATUS = new Set(['id', 'taskId', 'downloadUrl', 'log']);

function runMutation(): FieldCost {
  return ({ place, tally, schema }) => {
    tally.each(1);
    return child(schema, 'Task', deeper(place, { objects: 1, lazyStatus: true }));
  };
}

/** A user write, then the user read back from a fresh users list (the write dropped the request's). */
function userMutation(writes: (args: Record<string, unknown>) => number | null, returns: string): FieldCost {
  return ({ args, tally, schema }) => {
    const count = writes(args);
    if (count === null) return [];
    const scope = tally.newScope();
    tally.each(count);
    tally.once(`${scope}:users:`);
    return child(schema, returns, { scope, depth: 1, objects: 1 });
  };
}

function distinctUsers(args: Record<string, unknown>): number | null {
  const names = strings(args.userNames);
  if (names.length === 0 || names.length > MAX_BULK_USERS || names.some((name) => name.trim() === '')) {
    return null;
  }
  return new Set(names.map(nameKey)).size;
}

/** A Relay global id: base64 of "Type:local id"; null when malformed (the field then fails, costing nothing). */
function decodeGlobalId(id: unknown): { typename: string; id: string } | null {
  if (typeof id !== 'string') return null;
  const decoded = Buffer.from(id, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || Buffer.from(decoded).toString('base64') !== id) return null;
  return { typename: decoded.slice(0, colon), id: decoded.slice(colon + 1) };
}

function executionConfiguration(localId: string): string | null {
  try {
    const parsed: unknown = JSON.parse(localId);
    return Array.isArray(parsed) && typeof parsed[0] === 'string' ? parsed[0] : null;
  } catch {
    return null;
  }
}

/** node(id) / nodes(ids): each id costs what loading its type costs; one malformed id fails the whole field. */
function nodesCost(ids: unknown[], { place, tally, schema }: CostInput): Child[] {
  const decoded = ids.map(decodeGlobalId);
  if (decoded.some((id) => id === null)) return [];
  const byType = new Map<string, string[]>();
  for (const id of decoded) {
    if (!id) continue;
    byType.set(id.typename, [...(byType.get(id.typename) ?? []), id.id]);
  }
  const children: Child[] = [];
  for (const [typename, localIds] of byType) {
    const type = objectType(schema, typename);
    if (!type) return [];
    if (typename === 'Task') tally.each(new Set(localIds).size);
    else if (typename === 'User') tally.once(`${place.scope}:users:`);
    else if (typename === 'Group') tally.once(`${place.scope}:groups`);
    else if (typename === 'DeploymentExecution' || typename === 'ExportExecution') {
      const kind = typename === 'DeploymentExecution' ? 'deployment' : 'export';
      for (const localId of localIds) {
        const name = executionConfiguration(localId);
        if (name !== null) tally.once(`history:${kind}:${name}:false`);
      }
    }
    children.push({ type, place: deeper(place, { objects: localIds.length }) });
  }
  return children;
}

/** True when a filter (or any of its and/or/not) uses this key: inGroup / hasMember need the memberships map. */
function filterUses(filter: unknown, key: string): boolean {
  if (typeof filter !== 'object' || filter === null) return false;
  if (Array.isArray(filter)) return filter.some((item) => filterUses(item, key));
  const record = filter as Record<string, unknown>;
  if (record[key] != null) return true;
  return ['and', 'or', 'not'].some((combinator) => filterUses(record[combinator], key));
}

function membershipField(lone: 'groups-of-user' | 'members-of-group', next: string | null): FieldCost {
  return ({ place, tally, schema }) => {
    tally.once(`${place.scope}:memberships`);
    tally.once(`${place.scope}:${lone}:${place.depth}`);
    return next ? child(schema, next, deeper(place)) : [];
  };
}

function usersList(): FieldCost {
  return ({ place, tally }) => {
    tally.once(`${place.scope}:users:`);
    return [];
  };
}

function groupsList(): FieldCost {
  return ({ place, tally }) => {
    tally.once(`${place.scope}:groups`);
    return [];
  };
}

const USER_ROW_FIELDS = ['userName', 'firstName', 'lastName', 'email', 'description', 'enabled', 'userType'];

export const FIELD_COSTS: Record<string, FieldCost> = {
  // Configurations: no call of their own; their histories are keyed by name.
  'Query.deployment': configurations('Deployment', true),
  'Query.deployments': configurations('Deployment', false),
  'Query.export': configurations('Export', true),
  'Query.exports': configurations('Export', false),
  'Deployment.executions': history('deployment', 'argument'),
  'Deployment.latestExecution': history('deployment', 'latest'),
  'Export.executions': history('export', 'argument'),
  'Export.latestExecution': history('export', 'latest'),
  'Deployment.stats': history('deployment', 'whole'),
  'Export.stats': history('export', 'whole'),

  // Tasks: a status per task, a log per task each time `log` is selected.
  'Query.task': ({ args, place, tally, schema }) => {
    if (strings(args.taskId).every((taskId) => taskId.trim() === '')) return [];
    tally.each(1);
    return child(schema, 'Task', deeper(place, { objects: 1 }));
  },
  'Task.log': ({ args, place, tally }) => {
    if (typeof args.tailLines === 'number' && args.tailLines < 0) return [];
    tally.each(place.objects);
    return [];
  },
  // Polls are shared by every subscriber of the task (one per TASK_POLL_INTERVAL_MS, however many watch it), so a
  // subscription costs its first state; each event then costs what its selection asks (a `log`).
  'Subscription.taskUpdates': ({ place, tally, schema }) => {
    tally.each(1);
    return child(schema, 'Task', deeper(place, { objects: 1 }));
  },

  // Relay ids: each id costs what loading its type costs.
  'Query.node': (input) => nodesCost([input.args.id], input),
  'Query.nodes': (input) => nodesCost(Array.isArray(input.args.ids) ? input.args.ids : [], input),

  // The security graph: constant per request (see above).
  'Query.user': ({ place, tally, schema }) => {
    tally.once(`${place.scope}:users:`);
    return child(schema, 'User', deeper(place));
  },
  'Query.group': ({ place, tally, schema }) => {
    tally.once(`${place.scope}:groups`);
    return child(schema, 'Group', deeper(place));
  },
  'Query.users': ({ args, place, tally, schema }) => {
    const filter = args.filter as Record<string, unknown> | undefined;
    const userType = typeof filter?.userType === 'string' ? filter.userType : '';
    tally.once(`${place.scope}:users:${userType}`);
    if (filterUses(filter, 'inGroup')) tally.once(`${place.scope}:memberships`);
    return child(schema, 'UserConnection', deeper(place));
  },
  'Query.groups': ({ args, place, tally, schema }) => {
    tally.once(`${place.scope}:groups`);
    if (filterUses(args.filter, 'hasMember')) tally.once(`${place.scope}:memberships`);
    return child(schema, 'GroupConnection', deeper(place));
  },
  'User.groups': membershipField('groups-of-user', 'Group'),
  'Group.users': membershipField('members-of-group', 'User'),
  'Group.userCount': membershipField('members-of-group', null),
  'Group.description': groupsList(),
  'Group.enabled': groupsList(),
  ...Object.fromEntries(USER_ROW_FIELDS.map((field) => [`User.${field}`, usersList()])),

  // Writes: each is one call (never retried), then what the answer's selection reads.
  'Mutation.runDeployment': runMutation(),
  'Mutation.runErpImport': runMutation(),
  'Mutation.runExport': runMutation(),
  'Mutation.uploadErpFile': runMutation(),
  'Mutation.createSsoUser': userMutation(() => 1, 'User'),
  'Mutation.updateSsoUser': userMutation(() => 1, 'User'),
  'Mutation.enableUser': userMutation(() => 1, 'User'),
  'Mutation.disableUser': userMutation(() => 1, 'User'),
  'Mutation.assignUserToGroups': userMutation(() => 1, 'User'),
  'Mutation.removeUserFromGroups': userMutation(() => 1, 'User'),
  'Mutation.setUsersEnabled': userMutation(distinctUsers, 'UserEnabledResult'),
};

/** A run mutation's Task: its status costs a call only when a selected field needs more than the id. */
export function lazyTaskStatus(
  place: Place,
  type: GraphQLObjectType,
  selected: Iterable<string>,
  tally: Tally,
): void {
  if (!place.lazyStatus || type.name !== 'Task') return;
  for (const field of selected) {
    if (!field.startsWith('__') && !TASK_FIELDS_WITHOUT_STATUS.has(field)) {
      tally.each(place.objects);
      return;
    }
  }
}
