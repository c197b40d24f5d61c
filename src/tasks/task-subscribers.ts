/**
 * Who watches one task on this instance, and the task as they last saw it. A TaskPoller and a SharedTaskPoller both
 * keep one: a late subscriber gets the latest state at once, and a poll (or a relayed status) that shows the same
 * progress again reaches no one.
 */
import type { EpmTaskStatus } from '../upstream/types.ts';
import { percentCompleted, taskState } from './task-state.ts';

export interface TaskSubscriber {
  /** The task as last polled: at once when the poller knows it, then after every change. */
  next(task: EpmTaskStatus): void;
  /** The watch is over: right after the terminal state (no error), or with the error that ended it. */
  end(error?: Error): void;
}

export class TaskSubscribers {
  readonly #subscribers = new Set<TaskSubscriber>();
  #latest: EpmTaskStatus | undefined;

  /** A late subscriber gets the latest known state at once, without an upstream call of its own. */
  add(subscriber: TaskSubscriber): void {
    this.#subscribers.add(subscriber);
    if (this.#latest) subscriber.next(this.#latest);
  }

  /** True when that was the last one: the feed then stops. */
  remove(subscriber: TaskSubscriber): boolean {
    this.#subscribers.delete(subscriber);
    return this.#subscribers.size === 0;
  }

  /** Hands `task` to every subscriber unless it shows the same progress as the latest; false when it did not. */
  deliver(task: EpmTaskStatus): boolean {
    if (this.#latest && sameProgress(this.#latest, task)) return false;
    this.#latest = task;
    // A copy: a subscriber may leave (or end every watch) from inside next().
    for (const subscriber of [...this.#subscribers]) subscriber.next(task);
    return true;
  }

  /** Ends every watch, with the error that ended it or none, and forgets the subscribers. */
  endAll(error?: Error): void {
    const subscribers = [...this.#subscribers];
    this.#subscribers.clear();
    for (const subscriber of subscribers) subscriber.end(error);
  }
}

/** What a subscriber sees change: state, percentCompleted and message (not the raw P/R code behind RUNNING). */
export function sameProgress(a: EpmTaskStatus, b: EpmTaskStatus): boolean {
  return (
    taskState(a.status) === taskState(b.status) &&
    percentCompleted(a.percentCompleted) === percentCompleted(b.percentCompleted) &&
    (a.message ?? null) === (b.message ?? null)
  );
}

/** SUCCEEDED or FAILED: nothing will change any more. */
export function isFinal(task: EpmTaskStatus): boolean {
  return taskState(task.status) !== 'RUNNING';
}
