/**
 * The task state machine: which status may follow which.
 *
 * Pure; used by the task object's single transition() and by unit tests. Terminal states are final
 * except through an explicit retry (failed/canceled -> queued).
 */
import { TASK_STATUSES, type TaskStatus } from '../protocol/task.ts';

export { TASK_STATUSES, type TaskStatus };

export const TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  queued: ['running', 'canceled', 'failed'],
  running: ['running', 'retrying', 'succeeded', 'failed', 'canceled'],
  retrying: ['running', 'failed', 'canceled'],
  succeeded: [],
  failed: ['queued'],
  canceled: ['queued'],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** succeeded, failed and canceled: nothing happens to the task until someone asks for a retry. */
export function isTerminal(status: TaskStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'canceled';
}
