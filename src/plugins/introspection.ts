/**
 * `INTROSPECTION=false` turns schema introspection off (Yoga's plugin adds graphql-js' NoSchemaIntrospection rule);
 * field suggestions go with it (see query-limits.ts), since "Did you mean ...?" would reveal the same names.
 */
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.ts';

export function introspectionPlugins(enabled: boolean): Plugin<Context>[] {
  return enabled ? [] : [useDisableIntrospection() as Plugin<Context>];
}
