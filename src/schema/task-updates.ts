/**
 * Subscription.taskUpdates: a task's progress as a push stream. The polling behind it is shared: see
 * tasks/task-watcher.ts (one poller per credential and task, however many subscribers).
 */
import { builder } from '../builder.ts';
import { deeper, type FieldCost } from '../cost/field-cost.ts';
import { InputError, unauthenticated } from '../errors.ts';
import type { TaskUpdate } from '../tasks/task-watcher.ts';
import { idOrName } from '../validation.ts';
import { Task } from './task.ts';

/**
 * Polls are shared by every subscriber of the task (one per TASK_POLL_INTERVAL_MS, however many watch it), so a
 * subscription is estimated per event: its first state, then what each event's selection asks (a `log`).
 */
const taskUpdatesCost: FieldCost = (field) => {
  const { place, tally } = field;
  tally.each(1);
  return field.select(deeper(place, { objects: 1 }));
};

builder.subscriptionField('taskUpdates', (t) =>
  t.field({
    type: Task,
    nullable: false,
    description:
      'The task at once, then again whenever its state, percentCompleted or message changes; completes right ' +
      'after SUCCEEDED or FAILED. An unknown task ends the stream with NOT_FOUND.',
    args: { taskId: t.arg.id({ required: true, description: "EPMware's own task id" }) },
    upstream: taskUpdatesCost,
    subscribe: (_root, args, ctx) => {
      if (!ctx.credential) throw unauthenticated();
      const taskId = String(args.taskId).trim();
      if (taskId === '') throw new InputError('taskId must not be empty');
      // Checked before a watch is kept for it (a key, with Redis a lease), not only at its first poll.
      idOrName(taskId, 'taskId');
      return ctx.taskWatcher.watch(ctx.credential, taskId);
    },
    // The error that ends a watch arrives as the stream's last event and is thrown here, so it reaches the
    // client as a GraphQL error with its code (through Yoga's masking) instead of tearing the transport down.
    resolve: (update: TaskUpdate) => {
      if (update instanceof Error) throw update;
      return update;
    },
  }),
);
