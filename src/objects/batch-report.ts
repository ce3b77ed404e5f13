/**
 * The child's side of a batch: a task created as part of a batch tells the batch's object where it
 * stands, without ever waiting for it. Status changes go at once; progress at most every
 * BATCH_PROGRESS_INTERVAL_MS per task (leading edge + trailing value), so 100 busy children do not
 * flood their batch. A lost report does no harm: the batch's alarm asks unfinished children for
 * `batchReport()` (this module's `childReportOf`) until they finish.
 *
 * Used by TaskObject.
 */
import { Throttle } from '../lib/throttle.ts';
import type { ChildReport } from '../protocol/batch.ts';
import type { TaskStore } from './task-store.ts';

/** A child's progress reaches its batch at most this often. */
export const BATCH_PROGRESS_INTERVAL_MS = 500;

/** The task's report for its batch, with the batch's id (null when the task belongs to none). */
export function childReportOf(store: TaskStore): { batchId: string | null; report: ChildReport } | null {
  const t = store.task();
  if (!t) return null;
  return {
    batchId: t.batchId,
    report: {
      taskId: t.id,
      status: t.status,
      progress: t.progress,
      message: t.message,
      error: t.status === 'failed' || t.status === 'retrying' ? t.lastError : null,
      seq: t.seq,
      outputs: store.outputs().map((o) => ({ name: o.name, key: o.key, size: o.size, contentType: o.contentType })),
    },
  };
}

export class BatchReporter {
  private readonly ctx: DurableObjectState;
  private readonly env: Env;
  private readonly read: () => { batchId: string | null; report: ChildReport } | null;
  private readonly batchIdOf: () => string | null;
  private readonly throttle: Throttle<null>;

  /** `batchIdOf`: a cheap look at the batch id alone (default: from a full report). */
  constructor(
    ctx: DurableObjectState,
    env: Env,
    read: () => { batchId: string | null; report: ChildReport } | null,
    batchIdOf: () => string | null = () => read()?.batchId ?? null,
  ) {
    this.ctx = ctx;
    this.env = env;
    this.read = read;
    this.batchIdOf = batchIdOf;
    this.throttle = new Throttle(BATCH_PROGRESS_INTERVAL_MS, () => this.send());
  }

  /** Tasks created on their own (most) have no batch: no report to build, nothing to send. */
  private get inBatch(): boolean {
    return this.batchIdOf() !== null;
  }

  /** The task's status changed: tell the batch now (a held progress report is folded into it). */
  statusChanged(): void {
    if (!this.inBatch) return;
    this.throttle.cancel();
    this.send();
  }

  /** The task's progress moved: tell the batch soon. */
  progressed(): void {
    if (this.inBatch) this.throttle.push(null);
  }

  private send(): void {
    const current = this.read();
    if (!current?.batchId) return;
    const { batchId, report } = current;
    this.ctx.waitUntil(
      this.env.BATCHES.getByName(batchId)
        .childReport(report)
        .catch((err: unknown) =>
          console.warn(
            JSON.stringify({ level: 'warn', msg: 'batch report failed', task: report.taskId, error: String(err) }),
          ),
        ),
    );
  }
}
