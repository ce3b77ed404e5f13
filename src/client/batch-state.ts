/**
 * Folding a batch's event stream into its snapshot, for clients that watch a batch live (the same
 * idea as task-state.ts: the snapshot sent on connect, advanced by every later event).
 */
import type { BatchEvent, BatchSnapshot, BatchStatus } from '../protocol/batch.ts';

/** A batch stops changing once every child has finished (a later retry of a child reopens it). */
export function isBatchFinished(status: BatchStatus): boolean {
  return status !== 'running';
}

/** Apply one event; events the snapshot already includes (seq <= snapshot.seq) change nothing. */
export function applyBatchEvent(s: BatchSnapshot, e: BatchEvent): BatchSnapshot {
  if (e.seq <= s.seq) return s;
  const next: BatchSnapshot = { ...s, seq: e.seq, updatedAt: e.at };
  switch (e.kind) {
    case 'status':
      next.status = e.status;
      next.counts = e.counts;
      if (isBatchFinished(e.status)) next.finishedAt = e.at;
      break;
    case 'progress':
      next.progress = e.progress;
      next.counts = e.counts;
      break;
    case 'child':
      next.children = s.children.map((c) =>
        c.index === e.index
          ? { ...c, status: e.status, progress: e.progress, message: e.message, error: e.error ?? null }
          : c,
      );
      break;
  }
  return next;
}
