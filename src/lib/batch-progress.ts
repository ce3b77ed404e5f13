/**
 * Batch math: counts by status, one 0-100 figure for the whole batch, the batch's status, and how a
 * child's reported progress is merged into what the batch already knows.
 *
 * Pure; used by the batch object for every child report and by unit tests.
 */
import type { BatchStatus, StatusCounts } from '../protocol/batch.ts';
import { TASK_STATUSES, type TaskStatus } from '../protocol/task.ts';
import { clamp, round1 } from './progress.ts';
import { isTerminal } from './task-status.ts';

export function countStatuses(statuses: readonly TaskStatus[]): StatusCounts {
  const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as StatusCounts;
  for (const s of statuses) counts[s]++;
  return counts;
}

/**
 * The mean of the children's progress, a finished child (succeeded, failed or canceled) counting 100:
 * its work is over either way, so the bar reaches 100 exactly when every child has finished.
 */
export function aggregateProgress(children: readonly { status: TaskStatus; progress: number }[]): number {
  if (children.length === 0) return 100;
  let sum = 0;
  for (const c of children) sum += isTerminal(c.status) ? 100 : clamp(c.progress, 0, 99.9);
  const mean = round1(sum / children.length);
  // Rounding must not show 100 while a child still runs.
  return mean >= 100 && children.some((c) => !isTerminal(c.status)) ? 99.9 : mean;
}

/** The batch's status from its children's (see BATCH_STATUSES). */
export function batchStatusOf(counts: StatusCounts): BatchStatus {
  const total = TASK_STATUSES.reduce((n, s) => n + counts[s], 0);
  const unfinished = counts.queued + counts.running + counts.retrying;
  if (unfinished > 0 || total === 0) return 'running';
  if (counts.succeeded === total) return 'succeeded';
  if (counts.succeeded > 0) return 'partial';
  return counts.failed > 0 ? 'failed' : 'canceled';
}

export function isBatchFinished(status: BatchStatus): boolean {
  return status !== 'running';
}

/**
 * The progress the batch keeps for a child after a report. Within a run it never goes back (a retry
 * after a backoff may restart a step, and the batch's bar should not jump back for it); a child that
 * was finished and runs again (an explicit retry) starts over from what it reports.
 */
export function mergeChildProgress(
  before: { status: TaskStatus; progress: number },
  report: { status: TaskStatus; progress: number },
): number {
  const reported = clamp(report.progress, 0, 100);
  if (report.status === 'succeeded') return 100;
  if (isTerminal(before.status) && !isTerminal(report.status)) return reported;
  return Math.max(before.progress, reported);
}

/** A line for the batch's status event, e.g. "9 of 10 succeeded, 1 failed". */
export function describeCounts(counts: StatusCounts, status: BatchStatus): string {
  const total = TASK_STATUSES.reduce((n, s) => n + counts[s], 0);
  if (status === 'running') {
    const done = counts.succeeded + counts.failed + counts.canceled;
    return `${done} of ${total} finished`;
  }
  const parts = [`${counts.succeeded} of ${total} succeeded`];
  if (counts.failed > 0) parts.push(`${counts.failed} failed`);
  if (counts.canceled > 0) parts.push(`${counts.canceled} canceled`);
  return parts.join(', ');
}
