/**
 * The task's side of its tenant: tells the TenantObject where the task stands (its index row for
 * GET /api/tasks), gives the concurrency slot back with the last row (one call, since every call
 * into the one tenant object is on every task's path), and counts output bytes toward the daily quota.
 * None of these calls ever blocks the task; a lost index update is repaired by the next one, and a
 * lost release by the tenant's reclaim of slots whose holders have ended.
 *
 * Used by TaskObject.
 */
import type { TaskInput } from '../protocol/task.ts';
import type { TaskStore } from './task-store.ts';
import type { TaskIndexEntry } from './tenant-object.ts';

/** How the index shows a task's input. */
function sourceOf(input: TaskInput): string {
  if ('url' in input) return input.url;
  if ('upload' in input) return `upload:${input.upload}`;
  return `task:${input.task}/${input.output}`;
}

/** The row of a task about to be created (queued, its first event's seq), before it has any state. */
export function newIndexEntry(
  init: { id: string; input: TaskInput; steps: readonly { op: string }[]; label: string | null },
  now: number,
): TaskIndexEntry {
  return {
    id: init.id,
    status: 'queued',
    label: init.label,
    source: sourceOf(init.input),
    ops: init.steps.map((s) => s.op).join(','),
    progress: 0,
    message: 'waiting to start',
    attempt: 1,
    seq: 1,
    createdAt: now,
    updatedAt: now,
  };
}

/** The task's row in its tenant's index, or null once the task is gone. */
export function indexEntryOf(store: TaskStore, updatedAt?: number): TaskIndexEntry | null {
  const t = store.task();
  if (!t) return null;
  return {
    id: t.id,
    status: t.status,
    label: t.label,
    source: sourceOf(t.input),
    ops: store
      .steps()
      .map((s) => s.op)
      .join(','),
    progress: t.progress,
    message: t.message,
    attempt: t.attempt,
    seq: t.seq,
    createdAt: t.createdAt,
    updatedAt: updatedAt ?? t.updatedAt,
  };
}

export class TenantReporter {
  private readonly ctx: DurableObjectState;
  private readonly env: Env;
  private readonly store: TaskStore;
  /** when this instance last sent the task's row (0: not yet, or since a restart) */
  private lastSentAt = 0;

  constructor(ctx: DurableObjectState, env: Env, store: TaskStore) {
    this.ctx = ctx;
    this.env = env;
    this.store = store;
  }

  /** Update the task's index row (updatedAt: when the task last made progress, if not now). */
  record(updatedAt?: number): void {
    const entry = indexEntryOf(this.store, updatedAt);
    if (!entry) return;
    this.lastSentAt = Date.now();
    this.send((tenant) => tenant.record(entry), 'tenant index update failed');
  }

  /**
   * A running task is alive (runner last heard at `at`). The index needs that only so often: the
   * tenant counts a running task stalled when its row is older than the stall timeout, and takes a
   * holder younger than a minute at its word. Half the stall timeout keeps both true with one call
   * every other watchdog tick or fewer, instead of one per tick.
   */
  heartbeat(at: number, stallTimeoutMs: number): void {
    if (Date.now() - this.lastSentAt < stallTimeoutMs / 2) return;
    this.record(at);
  }

  /** The task ended: its last index row, and its concurrency slot back so the next in line starts. */
  finish(): void {
    const entry = indexEntryOf(this.store);
    if (!entry) return;
    this.lastSentAt = Date.now();
    this.send((tenant) => tenant.finish(entry), 'tenant finish failed');
  }

  /** Count stored output bytes toward the tenant's daily quota. */
  addOutputBytes(size: number): void {
    this.send((tenant) => tenant.addOutputBytes(size), 'output byte count failed');
  }

  private send(call: (tenant: ReturnType<Env['TENANTS']['getByName']>) => Promise<unknown>, what: string): void {
    const t = this.store.task();
    if (!t) return;
    this.ctx.waitUntil(
      call(this.env.TENANTS.getByName(t.tenant)).catch((err: unknown) =>
        console.warn(JSON.stringify({ level: 'warn', msg: what, task: t.id, error: String(err) })),
      ),
    );
  }
}
