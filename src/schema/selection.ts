/**
 * Whether a field's selection reaches a path, e.g. `users(...) { nodes { groups } }`, through fragments too. The
 * users and groups connections use it to start the memberships call alongside the list call when the answer will
 * need both: one upstream round trip on the critical path instead of two in a row.
 *
 * Hand-written (~30 lines) because it only needs a yes/no on fixed paths; a resolve-info library would build the
 * whole selection tree per request. @skip/@include are ignored: at worst a call starts that was not needed.
 */
import type { FragmentDefinitionNode, GraphQLResolveInfo, SelectionSetNode } from 'graphql';

export function selects(info: GraphQLResolveInfo, path: readonly string[]): boolean {
  return info.fieldNodes.some((field) => reaches(field.selectionSet, path, 0, info.fragments));
}

function reaches(
  set: SelectionSetNode | undefined,
  path: readonly string[],
  depth: number,
  fragments: Record<string, FragmentDefinitionNode>,
): boolean {
  if (!set) return false;
  for (const selection of set.selections) {
    if (selection.kind === 'Field') {
      if (selection.name.value !== path[depth]) continue;
      if (depth === path.length - 1 || reaches(selection.selectionSet, path, depth + 1, fragments))
        return true;
    } else {
      const inner =
        selection.kind === 'InlineFragment'
          ? selection.selectionSet
          : fragments[selection.name.value]?.selectionSet;
      if (reaches(inner, path, depth, fragments)) return true;
    }
  }
  return false;
}
