/**
 * The public snapshot of a task (GET /api/tasks/:id, the first message of every subscription), built
 * from the store's rows and the output links signed for this request. Used by TaskObject.
 */
import type { OutputInfo, StepSnapshot, TaskSnapshot } from '../protocol/task.ts';
import type { OutputRow, StepRow, TaskRow } from './task-store.ts';

export function snapshotOf(
  t: TaskRow,
  steps: readonly StepRow[],
  outputs: readonly OutputRow[],
  outputUrls: Record<string, string> = {},
): TaskSnapshot {
  const stepSnapshots: StepSnapshot[] = steps.map((s) => {
    const { op: _op, ...params } = s.params;
    return {
      index: s.index,
      op: s.op,
      params,
      status: s.status,
      progress: s.progress,
      outputs: outputs.filter((o) => o.step === s.index).map((o) => o.name),
    };
  });
  const outs: OutputInfo[] = outputs.map((o) => ({
    name: o.name,
    step: o.step,
    size: o.size,
    contentType: o.contentType,
    ...(outputUrls[o.name] ? { url: outputUrls[o.name] } : {}),
  }));
  return {
    id: t.id,
    status: t.status,
    stage: t.stage,
    progress: t.progress,
    message: t.message,
    attempt: t.attempt,
    maxAttempts: t.maxAttempts,
    nextRetryAt: t.status === 'retrying' ? t.runAt : null,
    input: t.input,
    label: t.label,
    steps: stepSnapshots,
    outputs: outs,
    error: t.lastError && (t.status === 'failed' || t.status === 'retrying') ? t.lastError : null,
    seq: t.seq,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  };
}
