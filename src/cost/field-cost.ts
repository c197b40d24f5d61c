/**
 * The words a field's upstream cost is declared in. A field that calls EPMware says so where it is defined, with
 * the `upstream` option (cost-plugin.ts adds it to Pothos); a Node type says what loading its objects by id costs
 * with `upstreamLoad`. estimate.ts reads both back from the built schema and walks a document with them.
 *
 * Two kinds of calls (see Tally): those a request makes at most once per key (the users, groups and memberships
 * lists, an execution history per name: DataLoaders and the SecurityDirectory share them), and those made every
 * time a field resolves (a task's status or log, a write).
 */
import type { GraphQLField, GraphQLObjectType } from 'graphql';
import { InputError } from '../errors.ts';

/** Beyond this many calls the walk stops: the answer is "more than this", and the work stays bounded. */
export const ESTIMATE_CEILING = 100_000;
/** Fields visited at most; a document past this (fragments spread into fragments) is refused as too large. */
const MAX_FIELD_VISITS = 200_000;

/** Thrown by a Tally past the ceiling or the visit limit: the estimate then answers "more than the ceiling". */
export class CeilingReached extends Error {}

/** Calls counted so far: keyed ones count once however often they come up, the others every time. */
export class Tally {
  readonly #keys = new Set<string>();
  #repeated = 0;
  #visits = 0;
  #scopes = 0;

  /** A call the request makes at most once for this key (a list, a history). */
  once(key: string): void {
    this.#keys.add(key);
    this.#check();
  }

  /** Calls made each time: `count` resolutions of a field that calls upstream. */
  each(count: number): void {
    this.#repeated += count;
    this.#check();
  }

  /** A new scope for security reads: a user mutation drops what the request had read before it. */
  newScope(): string {
    this.#scopes += 1;
    return `mutation-${this.#scopes}`;
  }

  get calls(): number {
    return this.#keys.size + this.#repeated;
  }

  visit(): void {
    this.#visits += 1;
    if (this.#visits > MAX_FIELD_VISITS) throw new CeilingReached();
  }

  #check(): void {
    if (this.calls > ESTIMATE_CEILING) throw new CeilingReached();
  }
}

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
  /**
   * The objects are fetched only when a selected field needs more than these (a run mutation's Task: its status,
   * one call per object). Applies to this selection alone, not to the ones below it.
   */
  lazy?: ReadonlySet<string>;
}

/** A selection below a field: the object type it runs on, and where. */
export interface Child {
  type: GraphQLObjectType;
  place: Place;
}

/** What a declaration is given. select and selectLoaded are methods: call them on it (`field.select(...)`). */
export interface FieldCostInput {
  /**
   * The field's arguments as the request sends them: literals and defaults applied, variables as they arrived (a
   * lone value where a list is expected, a date as its string). A value that would not coerce makes execution
   * refuse the operation before any resolver runs; read them defensively.
   */
  args: Readonly<Record<string, unknown>>;
  place: Place;
  tally: Tally;
  /** The field's selection, on its own object type, running at `place` (none for a scalar field). */
  select(place: Place): Child[];
  /**
   * Objects of the named type loaded by their ids (node(id)): tallies what that type declares loading costs
   * (`upstreamLoad`) and returns the selection on it; null when the name is no loadable object type.
   */
  selectLoaded(typeName: string, localIds: readonly string[], place: Place): Child[] | null;
}

/** What one resolution of a field costs (tallied), and the selections below it. */
export type FieldCost = (field: FieldCostInput) => readonly Child[];

/**
 * A field's declaration: 'none' when it makes no call of its own (its object, if any, is walked one level deeper,
 * in the same place), or its cost.
 */
export type UpstreamCost = 'none' | FieldCost;

export interface NodeLoadInput {
  /** The local ids (the part of a global id after the type name), as sent. */
  localIds: readonly string[];
  place: Place;
  tally: Tally;
}

/** What loading objects of a Node type by id costs (node(id), nodes(ids)). */
export type NodeLoadCost = (load: NodeLoadInput) => void;

/** Where the built schema keeps the declarations (field and type `extensions`). */
export const COST_EXTENSION = 'upstreamCost';
export const LOAD_COST_EXTENSION = 'upstreamLoadCost';

/** The field's declaration; undefined for a field that needs none (exposed, or answered by its parent). */
export function declaredCost(field: GraphQLField<unknown, unknown>): UpstreamCost | undefined {
  return field.extensions?.[COST_EXTENSION] as UpstreamCost | undefined;
}

export function declaredLoadCost(type: GraphQLObjectType): NodeLoadCost | undefined {
  return type.extensions?.[LOAD_COST_EXTENSION] as NodeLoadCost | undefined;
}

/** One level deeper than `place`, in its scope and for its objects (its names and laziness stay behind), with `changes`. */
export function deeper(place: Place, changes: Partial<Place> = {}): Place {
  return { scope: place.scope, depth: place.depth + 1, objects: place.objects, ...changes };
}

/** A list argument as sent: a lone value counts as a list of one (as GraphQL coerces it); an ID may be a number. */
export function listAsSent(value: unknown): string[] {
  const items = Array.isArray(value) ? value : [value];
  return items.flatMap((item) =>
    typeof item === 'string' || typeof item === 'number' ? [String(item)] : [],
  );
}

/**
 * Whether the resolver's own check accepts an argument: false when it throws BAD_USER_INPUT, in which case the
 * field fails before its call and costs nothing. Anything else thrown is a bug and propagates.
 */
export function accepts(check: () => unknown): boolean {
  return (
    parsedBy(() => {
      check();
      return true;
    }) === true
  );
}

/** What the resolver's own parser makes of an argument, or null when it refuses it (BAD_USER_INPUT). */
export function parsedBy<T>(parse: () => T): T | null {
  try {
    return parse();
  } catch (error) {
    if (error instanceof InputError) return null;
    throw error;
  }
}
