/**
 * Progress events that subscribers already have but the log does not yet: the task store keeps them
 * here and writes them all in one transaction (a flush) every FLUSH_INTERVAL_MS, or before any other
 * write, instead of one durable commit per progress event. A progress frame therefore goes out at once,
 * not held behind a commit (the output gate holds a frame only while a write is unconfirmed).
 *
 * Seq numbers stay gap-free and are never reused, crash or not. A pending event takes the next seq
 * in memory, but only from a range the log has durably reserved (`task.seq_reserved`, kept a few seqs
 * ahead while the task runs, set back to `seq` when it stops running). After a crash, seqs between the
 * last written one and the reserved one may have reached a client: the store fills them with the last
 * durable progress (see TaskStore.recover), so a replay has every seq and a later event never takes a
 * seq a client has already seen. What a crash loses is the content of progress events sent since the
 * last flush (at most FLUSH_INTERVAL_MS of them); the task re-attaches to its runner after the last
 * recorded runner seq and reads those updates again.
 *
 * A patch of the task row that the running attempt can afford to lose (TaskStore.patch: the job id
 * once the runner accepted the job, the stage while an output is stored) waits here too, and is
 * written with the next flush instead of a transaction of its own. A crash that loses the job id
 * makes the restarted task send the same job again, which the runner answers as the one it has.
 *
 * Used only by TaskStore.
 */
import type { TaskPatch } from '../lib/task-lifecycle.ts';
import type { TaskEvent } from '../protocol/task.ts';

/**
 * Pending progress is written at least this often: one row per second of progress (the task row,
 * events in its tail). What a crash loses is what the runner still has (the restarted task reads it
 * again after the last recorded runner seq), unless the runner died too.
 */
export const FLUSH_INTERVAL_MS = 1_000;
/**
 * Seqs reserved ahead of the log while a task runs. Progress events reach the store at most every
 * 50 ms (the driver's throttle), so a flush every second uses at most 20 between two flushes, and each
 * flush tops the reserve up when half is used (so 20 are always left); the reserve is also how many
 * filler events a crash may leave.
 */
export const SEQ_RESERVE = 40;

export type ProgressEvent = Extract<TaskEvent, { kind: 'progress' }>;

export class PendingProgress {
  events: ProgressEvent[] = [];
  /** the task row as the newest pending event left it */
  patch: TaskPatch = {};
  /** step index -> its own progress */
  steps = new Map<number, number>();
  /** when the newest pending event happened (the row's updated_at once written) */
  at = 0;
  /** a patch without an event is pending */
  private patched = false;

  /** no progress event is pending (a patch may be) */
  get empty(): boolean {
    return this.events.length === 0;
  }

  /** something is pending: progress events, or a patch of the task row without an event */
  get dirty(): boolean {
    return this.events.length > 0 || this.patched;
  }

  /** The seq of the newest pending event, or null when nothing is pending. */
  get lastSeq(): number | null {
    return this.events.at(-1)?.seq ?? null;
  }

  add(event: ProgressEvent, patch: TaskPatch, step: number, stepProgress: number): void {
    this.events.push(event);
    this.patch = { ...this.patch, ...patch };
    this.steps.set(step, stepProgress);
    this.at = event.at;
  }

  /** A patch of the task row without an event (TaskStore.patch), written with the next flush. */
  addPatch(patch: TaskPatch, at: number): void {
    this.patch = { ...this.patch, ...patch };
    this.at = at;
    this.patched = true;
  }

  clear(): void {
    this.patched = false;
    this.events = [];
    this.patch = {};
    this.steps.clear();
    this.at = 0;
  }
}
