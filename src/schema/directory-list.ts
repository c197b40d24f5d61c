/**
 * The users and groups connections: one directory list each, answered the same way. A page checks its arguments
 * (before any upstream call), starts the memberships call alongside the list call when the filter or the selection
 * will need it, filters the list sorted once per answer and cuts the page. What is a list's own (its node type, its
 * filter and orderBy inputs, which list, how it orders and filters, which of that reads memberships) comes in a
 * `DirectoryList`.
 */
import type { InputObjectRef, ObjectRef, QueryFieldBuilder } from '@pothos/core';
import type { GraphQLResolveInfo } from 'graphql';
import type { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { deeper, type FieldCost } from '../cost/field-cost.ts';
import type { Index, Memberships, SecurityDirectory } from '../directory.ts';
import { type Combinators, filterItems, someFilter } from './filters.ts';
import {
  checkPageArgs,
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  type Ordering,
  type Page,
  type PageArgs,
  paginate,
  sortedOnce,
} from './pagination.ts';
import { readOnce } from './security-sources.ts';
import { selects } from './selection.ts';

type Types = typeof builder.$inferSchemaTypes;

/**
 * One directory list: N its node type's shape (a row or a mention), T the list's rows, F its filter input's shape,
 * O its orderBy input's shape.
 */
export interface DirectoryList<N, T extends N, F extends Combinators<F>, O> {
  node: ObjectRef<Types, N>;
  filter: InputObjectRef<Types, F>;
  orderBy: InputObjectRef<Types, O>;
  /** The ordering an orderBy asks for (the same object each time, so sortedOnce finds the order it kept). */
  ordering: (orderBy: O | null | undefined) => Ordering<T>;
  /** The list, as the request's directory holds it (fetched at most once per request). */
  list: (directory: SecurityDirectory, filter: F | null | undefined) => Promise<Index<T>>;
  /** Which directory read `list` is, for the demand estimate (security-sources.ts' readOnce). */
  listRead: (filter: F | null | undefined) => string;
  /** Whether one filter of the tree reads memberships (a user's groups, a group's members). */
  readsMemberships: (filter: F) => boolean;
  /** Selections under the connection whose fields read memberships, e.g. ['nodes', 'groups']. */
  membershipPaths: ReadonlyArray<readonly string[]>;
  /** A filter's own conditions (not and / or / not) on one item. */
  matchesOwn: (item: T, filter: F, memberships: Memberships | undefined) => boolean;
}

/**
 * The connection field for `list`, its types named after the node (GroupConnection, GroupEdge) and described with
 * `plural` (groups): the paging contract is the same for both lists, and so are its words.
 */
export function directoryConnection<N, T extends N, F extends Combinators<F>, O>(
  t: QueryFieldBuilder<Types, Types['Root']>,
  plural: string,
  list: DirectoryList<N, T, F, O>,
) {
  const capitalized = `${plural.charAt(0).toUpperCase()}${plural.slice(1)}`;
  return t.connection(
    {
      type: list.node,
      nullable: false,
      nodeNullable: false,
      edgesNullable: { list: false, items: false },
      description: `${capitalized} EPMware lists: \`first\` ${DEFAULT_PAGE_SIZE} by default, at most ${MAX_PAGE_SIZE} a page`,
      args: { filter: t.arg({ type: list.filter }), orderBy: t.arg({ type: list.orderBy }) },
      upstream: listCost(list),
      resolve: (_root, args, ctx, info) => directoryPage(ctx, info, args, list),
    },
    {
      name: `${list.node.name}Connection`,
      description: `A page of ${plural}`,
      fields: (c) => ({
        totalCount: c.int({
          nullable: false,
          upstream: 'none',
          description: `${capitalized} matching the filter, over all pages`,
          resolve: (connection) => connection.totalCount,
        }),
      }),
    },
    { name: `${list.node.name}Edge` },
  );
}

/** The list (once per request), and the memberships when the filter reads them; the page is cut in memory. */
function listCost<N, T extends N, F extends Combinators<F>, O>(list: DirectoryList<N, T, F, O>): FieldCost {
  return (field) => {
    const { args, place, tally } = field;
    const filter = args.filter as F | null | undefined; // as sent: someFilter reads it defensively
    readOnce(tally, place.scope, list.listRead(filter));
    if (someFilter(filter, list.readsMemberships)) readOnce(tally, place.scope, 'memberships');
    return field.select(deeper(place));
  };
}

async function directoryPage<N, T extends N, F extends Combinators<F>, O>(
  ctx: Context,
  info: GraphQLResolveInfo,
  args: PageArgs & { filter?: F | null; orderBy?: O | null },
  { ordering: orderingOf, list, readsMemberships, membershipPaths, matchesOwn }: DirectoryList<N, T, F, O>,
): Promise<Page<T>> {
  const ordering = orderingOf(args.orderBy);
  checkPageArgs(args, ordering.tag);
  const filter = args.filter;
  const needsMemberships = someFilter(filter, readsMemberships);
  if (!needsMemberships && manyOnPage(args) && membershipPaths.some((path) => selects(info, path))) {
    // In flight alongside the list; the memberships fields find it settled or join it (errors surface there).
    void ctx.directory.memberships();
  }
  const [items, memberships] = await Promise.all([
    list(ctx.directory, filter),
    needsMemberships ? ctx.directory.memberships() : undefined,
  ]);
  // Filtering keeps the order, so the list is sorted once (per upstream answer) and filtered per request.
  const matching = filterItems(sortedOnce(items.list, ordering), filter, (entry, f) =>
    matchesOwn(entry.item, f, memberships),
  );
  return paginate(matching, args, ordering);
}

/**
 * A page of one item never needs every membership: its `groups` or `users` field asks EPMware for that one
 * entity's alone (directory.ts).
 */
function manyOnPage(args: PageArgs): boolean {
  return (args.first ?? args.last ?? DEFAULT_PAGE_SIZE) > 1;
}
