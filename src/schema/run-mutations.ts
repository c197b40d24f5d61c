/**
 * runDeployment, runExport, runErpImport. EPMware answers a run with `{"status":"S","taskId":…}`, which says only
 * that the run was submitted; the returned Task is the task as get_status reports it, fetched only when a field
 * needs it (see taskResult).
 */
import { type GraphQLResolveInfo, Kind, type SelectionSetNode } from 'graphql';
import { builder } from '../builder.ts';
import { deeper, type FieldCost } from '../cost/field-cost.ts';
import type { Epmware } from '../upstream/epmware.ts';
import type { EpmTaskStatus } from '../upstream/types.ts';
import { exactlyOne, requiredText, timeoutMin } from '../validation.ts';
import { Task } from './task.ts';

/** Task fields answered from the task id alone; any other field needs the task's status. */
const FIELDS_WITHOUT_STATUS = new Set(['__typename', 'id', 'taskId', 'downloadUrl', 'log']);

function selectionNeedsStatus(
  selectionSet: SelectionSetNode | undefined,
  info: GraphQLResolveInfo,
  seenFragments: Set<string>,
): boolean {
  for (const selection of selectionSet?.selections ?? []) {
    if (selection.kind === Kind.FIELD) {
      if (!FIELDS_WITHOUT_STATUS.has(selection.name.value)) return true;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      if (selectionNeedsStatus(selection.selectionSet, info, seenFragments)) return true;
    } else if (!seenFragments.has(selection.name.value)) {
      seenFragments.add(selection.name.value);
      const fragment = info.fragments[selection.name.value];
      if (selectionNeedsStatus(fragment?.selectionSet, info, seenFragments)) return true;
    }
  }
  return false;
}

/**
 * What a run mutation resolves to. The task id is the Task loader's key, so a selection such as `{ taskId state }`
 * costs one get_status (batched with any other in the request). A selection of `{ taskId }` or `{ id }` alone
 * needs no status, and gets an object that carries only the id: its status is never read, since no selected
 * field reads it. (Task's loader must therefore not prime itself with resolved objects: no `cacheResolved`.)
 */
export function taskResult(taskId: string, info: GraphQLResolveInfo): string | EpmTaskStatus {
  const needsStatus = info.fieldNodes.some((node) =>
    selectionNeedsStatus(node.selectionSet, info, new Set()),
  );
  return needsStatus ? taskId : { taskId, status: '' };
}

/**
 * A run's cost: the write (never retried), then the Task's status only when a selected field needs more than the
 * id (FIELDS_WITHOUT_STATUS, as taskResult decides).
 */
export const runCost: FieldCost = (field) => {
  const { place, tally } = field;
  tally.each(1);
  return field.select(deeper(place, { objects: 1, lazy: FIELDS_WITHOUT_STATUS }));
};

/** Runs of a configuration by name: a deployment or an ERP import, each with EPMware's optional timeout. */
const namedRuns = [
  {
    field: 'runDeployment',
    description: 'Starts a deployment (deployment/run). The task reports its progress; see also taskUpdates.',
    configuration: 'The deployment configuration',
    run: (epmware: Epmware, name: string, timeout?: number) => epmware.runDeployment(name, timeout),
  },
  {
    field: 'runErpImport',
    description: 'Runs an ERP import (erp/run), typically after uploadErpFile.',
    configuration: 'The ERP import configuration',
    run: (epmware: Epmware, name: string, timeout?: number) => epmware.runErpImport(name, timeout),
  },
] as const;

for (const namedRun of namedRuns) {
  builder.mutationField(namedRun.field, (t) =>
    t.field({
      type: Task,
      nullable: false,
      description: namedRun.description,
      args: {
        name: t.arg.string({ required: true, description: namedRun.configuration }),
        timeoutMin: t.arg.int({
          description: `Minutes before EPMware gives up; 1..1440, EPMware's default 60`,
        }),
      },
      upstream: runCost,
      resolve: async (_root, args, ctx, info) => {
        const name = requiredText(args.name, 'name');
        const timeout = timeoutMin(args.timeoutMin);
        const submitted = await namedRun.run(ctx.epmware(), name, timeout);
        return taskResult(submitted.taskId, info);
      },
    }),
  );
}

builder.mutationField('runExport', (t) =>
  t.field({
    type: Task,
    nullable: false,
    description: 'Runs an export profile (name) or an export book (bookName): exactly one of the two.',
    args: {
      name: t.arg.string({ description: 'An export profile' }),
      bookName: t.arg.string({ description: 'An export book' }),
    },
    upstream: runCost,
    resolve: async (_root, args, ctx, info) => {
      const target = exactlyOne(
        { argument: 'name', value: args.name },
        { argument: 'bookName', value: args.bookName },
      );
      const submitted = await ctx
        .epmware()
        .runExport(target.argument === 'name' ? { name: target.value } : { bookName: target.value });
      return taskResult(submitted.taskId, info);
    },
  }),
);
