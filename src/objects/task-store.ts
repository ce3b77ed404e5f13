/**
 * The task object's storage: typed reads and writes over its SQLite tables.
 *
 * SQLite is the source of truth. Every write goes through this module, so it keeps a write-through
 * copy of the task row, its steps and its outputs: a read between two writes costs no query and no
 * JSON parse. A write updates or drops the copy; a transaction that throws drops all of it (SQLite
 * rolled back), and a new object instance starts empty and reads SQLite again.
 *
 * Every status change and step change is a lifecycle move (lib/task-lifecycle.ts) written by
 * `applyMove` in one transaction with its events, so the event log can never disagree with the status.
 * Progress events are the exception that makes progress cheap: they are handed out at once and
 * written in batches (pending-progress.ts), and so is a patch without an event (`patch`); every other
 * write first writes what is pending, in the same transaction, and every read (row, steps, replay)
 * already includes it.
 *
 * What a task writes is billed per row, and every UPDATE statement is a row even on the same row, so
 * the layout keeps rows few (migrations 7 and 8): the task is one row whose columns include its steps,
 * its outputs, its run timeline and the newest events of its log (JSON). Each transaction writes that
 * row once at its end, always with the same statement (`setRow` gathers the columns, RowWriter in
 * task-rows.ts writes them); events take their seq from the cached row and go into the row's tail
 * (task-log.ts), so a move, a flush or a patch writes exactly one row. A new object has no schema
 * until its create, whose transaction creates a baseline holding only the tables it writes
 * (task-schema.ts) and inserts the row at its end with the task's first move (`create`'s `then`), so
 * a task granted a slot at once is one row written, stored running.
 */

import type { Move, NewEvent, TaskPatch } from '../lib/task-lifecycle.ts';
import { canTransition } from '../lib/task-status.ts';
import { ClipyardError } from '../protocol/errors.ts';
import type { Op, Step } from '../protocol/ops.ts';
import type { StepStatus, TaskEvent } from '../protocol/task.ts';
import { FLUSH_INTERVAL_MS, PendingProgress, type ProgressEvent, SEQ_RESERVE } from './pending-progress.ts';
import { TaskLog } from './task-log.ts';
import {
  type NewTask,
  newTaskRow,
  type OutputRow,
  PATCH_COLUMNS,
  type Row,
  RowWriter,
  type StepRow,
  type TaskRow,
  toTask,
} from './task-rows.ts';
import { ensureSchema, migrate, SCHEMA_VERSION, schemaMissing } from './task-schema.ts';

export type { NewEvent, OutputRow, StepRow, TaskPatch, TaskRow };

/**
 * Something kept in the task row beside the store's own columns (the run timeline): it sees every
 * event the store writes or hands out, and adds its columns to the row's one UPDATE per transaction.
 */
export interface RowCompanion {
  observe(e: TaskEvent): void;
  /** inside a transaction: columns to write with the row, or null when nothing changed */
  columns(): Record<string, SqlStorageValue> | null;
  /** its transaction rolled back, or the task was wiped: read SQLite again */
  forget(): void;
}

export class TaskStore {
  private readonly storage: DurableObjectStorage;
  private readonly log: TaskLog;
  /** write-through copies; undefined: not read yet (or dropped) */
  private cachedTask: TaskRow | null | undefined;
  private cachedSteps: StepRow[] | undefined;
  private cachedOutputs: OutputRow[] | undefined;
  private readonly pending = new PendingProgress();
  /** set while a transaction writes what was pending; cleared (with the pending events) once it committed */
  private flushing = false;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  /** the task row's changes in a transaction, written at its end in one UPDATE (task-rows.ts) */
  private readonly row: RowWriter;

  private readonly companion: RowCompanion | null;

  constructor(storage: DurableObjectStorage, companion: RowCompanion | null = null) {
    this.storage = storage;
    this.companion = companion;
    this.log = new TaskLog(storage.sql);
    this.row = new RowWriter(storage.sql);
  }

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  /** Run `fn` in one transaction; if it throws, SQLite rolled back, so the copies are dropped too. */
  private tx<T>(fn: () => T): T {
    if (this.row.inTransaction) return fn();
    let out: T;
    try {
      out = this.storage.transactionSync(() => {
        this.row.begin();
        this.flushPending();
        const result = fn();
        this.row.write(this.companion?.columns(), this.log.columns());
        return result;
      });
    } catch (err) {
      this.flushing = false;
      this.forget();
      this.companion?.forget();
      throw err;
    }
    if (this.flushing) {
      this.flushing = false;
      this.pending.clear();
    }
    return out;
  }

  /** Drop the in-memory copies (after a rollback, or when the storage was wiped). */
  forget(): void {
    this.cachedTask = undefined;
    this.cachedSteps = undefined;
    this.cachedOutputs = undefined;
    this.log.forget();
    this.row.forget();
  }

  task(): TaskRow | null {
    if (this.cachedTask === undefined) {
      // a new object has no schema until its create (task-schema.ts): no table, no task
      if (schemaMissing(this.storage)) return null;
      const r = this.sql.exec<Row>('SELECT * FROM task LIMIT 1').toArray()[0];
      this.cachedTask = r ? this.withPending(toTask(r)) : null;
      if (r) {
        this.log.load(r.tail);
        this.row.read(r);
      }
      // the steps and outputs are columns of the same row (migration 7): one read for all
      if (r?.steps != null && this.cachedSteps === undefined) {
        this.cachedSteps = this.withPendingSteps(JSON.parse(String(r.steps)) as StepRow[]);
      }
      if (r?.outputs != null && this.cachedOutputs === undefined) {
        this.cachedOutputs = JSON.parse(String(r.outputs)) as OutputRow[];
      }
    }
    return this.cachedTask;
  }

  /** The task row, or task.not_found when it does not exist or belongs to another tenant. */
  require(tenant: string): TaskRow {
    const t = this.task();
    if (!t || t.tenant !== tenant) throw new ClipyardError('task.not_found', 'no such task', { status: 404 });
    return t;
  }

  steps(): readonly StepRow[] {
    if (this.cachedSteps === undefined && this.cachedTask === undefined) this.task();
    if (this.cachedSteps === undefined) {
      const r = this.sql.exec<{ steps: string | null }>('SELECT steps FROM task LIMIT 1').toArray()[0];
      // no task, no steps (a new object has no steps table)
      if (!r) return [];
      if (r.steps != null) this.cachedSteps = this.withPendingSteps(JSON.parse(r.steps) as StepRow[]);
    }
    // a row without its steps column (none: migration 7 copied them) reads the old table
    this.cachedSteps ??= this.withPendingSteps(
      this.sql
        .exec<Row>('SELECT idx, op, params, status, progress FROM steps ORDER BY idx')
        .toArray()
        .map((r) => ({
          index: Number(r.idx),
          op: r.op as Op,
          params: JSON.parse(String(r.params)) as Step,
          status: r.status as StepStatus,
          progress: Number(r.progress),
        })),
    );
    return this.cachedSteps;
  }

  private withPendingSteps(steps: StepRow[]): StepRow[] {
    if (this.pending.steps.size === 0) return steps;
    return steps.map((s) => {
      const p = this.pending.steps.get(s.index);
      return p === undefined ? s : { ...s, progress: p };
    });
  }

  /** The outputs, oldest first (a JSON column of the task row since migration 7, which copied them). */
  outputs(): readonly OutputRow[] {
    if (this.cachedOutputs === undefined) {
      const r = this.sql.exec<{ outputs: string | null }>('SELECT outputs FROM task LIMIT 1').toArray()[0];
      this.cachedOutputs = r?.outputs ? (JSON.parse(r.outputs) as OutputRow[]) : [];
    }
    return this.cachedOutputs;
  }

  output(name: string): OutputRow | null {
    return this.outputs().find((o) => o.name === name) ?? null;
  }

  /** Events with seq > after, oldest first. */
  eventsAfter(after: number, limit = 10_000): TaskEvent[] {
    if (!this.task()) return [];
    const written = this.log.after(after, limit);
    return this.pending.empty ? written : [...written, ...this.pending.events.filter((e) => e.seq > after)];
  }

  /**
   * Write a new task's row: queued, its first event (seq 1). `then`, when given, runs inside the same
   * transaction once the row is the store's copy (a move made on it, e.g. the grant of a task that
   * gets its slot at once): the row is inserted at the transaction's end with what `then` changed, so
   * the two cost one row written, not an INSERT and an UPDATE. If `then` throws, nothing is written.
   */
  create(init: NewTask, then?: () => void): TaskEvent {
    this.forget();
    try {
      return this.insertTask(init, then);
    } catch (err) {
      // a schema created by the transaction that rolled back is gone with it
      migrate(this.storage);
      throw err;
    }
  }

  private insertTask(init: NewTask, then?: () => void): TaskEvent {
    return this.tx(() => {
      // a new object's schema is created here, in the transaction that writes its first row; the
      // baseline has no events table, so the log need not look for one
      if (ensureSchema(this.storage)) this.log.noTable();
      // the first event (in the row's tail: task-log.ts) and the companion's columns are in the row as inserted
      const { row, first } = newTaskRow(init);
      // the schema's version lives in this row (task-schema.ts)
      row.schema_version = SCHEMA_VERSION;
      this.log.load(null);
      this.log.append([first]);
      Object.assign(row, this.companion?.columns(), this.log.columns());
      // inserted at the transaction's end (RowWriter.insert), with what `then` changes
      this.row.insert(row);
      // the row as inserted is the copy: a new object's next read costs no query (and no statement compiled)
      this.cachedTask = toTask(row);
      this.cachedSteps = JSON.parse(String(row.steps)) as StepRow[];
      this.cachedOutputs = [];
      then?.();
      return first;
    });
  }

  /**
   * Write a lifecycle move: checks a status change is legal, then writes the task row, the step rows
   * and the events in one transaction. Returns the events as appended (with seq and at).
   */
  applyMove(move: Move, now = Date.now()): TaskEvent[] {
    if (isEmptyMove(move)) return [];
    return this.tx(() => {
      const t = this.task();
      if (!t) throw new ClipyardError('task.not_found', 'no such task', { status: 404 });
      if (move.to !== null && !canTransition(t.status, move.to)) {
        throw new ClipyardError('task.illegal_transition', `a ${t.status} task cannot become ${move.to}`, {
          status: 409,
        });
      }
      if (move.resetUnfinishedSteps || move.steps.length > 0) {
        let steps = this.steps();
        if (move.resetUnfinishedSteps) {
          steps = steps.map((s) => (s.status === 'succeeded' ? s : { ...s, status: 'pending', progress: 0 }));
        }
        for (const st of move.steps) {
          steps = steps.map((s) =>
            s.index === st.index ? { ...s, status: st.status, progress: st.progress ?? s.progress } : s,
          );
        }
        this.setSteps(steps);
      }
      if (move.to !== null) {
        this.setRow({ status: move.to });
        this.cachedTask = { ...t, status: move.to };
      }
      if (move.events.length === 0) {
        this.writePatch(move.patch, now);
        return [];
      }
      const events = move.events.map((e, i) => this.insertEvent(e, i === 0 ? move.patch : {}, now));
      this.settleReserve();
      return events;
    });
  }

  /**
   * A progress event: handed out at once with the next seq, written with the next flush (see
   * pending-progress.ts). Only when the reserve is used up is a write needed before it may go out.
   */
  appendProgress(
    event: Omit<ProgressEvent, 'seq' | 'at'>,
    patch: TaskPatch,
    step: number,
    stepProgress: number,
    now = Date.now(),
  ): TaskEvent {
    const t = this.task();
    if (!t) throw new ClipyardError('task.not_found', 'no such task', { status: 404 });
    const seq = t.seq + 1;
    let seqReserved = t.seqReserved;
    if (seq > seqReserved) {
      seqReserved = seq + SEQ_RESERVE;
      this.row.writeNow({ seq_reserved: seqReserved });
    }
    const e: ProgressEvent = { ...event, seq, at: now };
    this.pending.add(e, patch, step, stepProgress);
    this.companion?.observe(e);
    this.cachedTask = { ...t, ...patch, seq, seqReserved, updatedAt: now };
    const steps = this.cachedSteps;
    if (steps) this.cachedSteps = steps.map((s) => (s.index === step ? { ...s, progress: stepProgress } : s));
    this.armFlush();
    return e;
  }

  /** Write what is pending (progress events, patches) within FLUSH_INTERVAL_MS. */
  private armFlush(): void {
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      try {
        this.flush();
      } catch (err) {
        // still pending: the next write (or the next progress event's timer) tries again
        console.warn(JSON.stringify({ level: 'warn', msg: 'progress flush failed', error: String(err) }));
      }
    }, FLUSH_INTERVAL_MS);
  }

  /** Write what is pending now (one transaction), if anything. */
  flush(): void {
    if (this.pending.dirty) this.tx(() => undefined);
  }

  /**
   * After a restart: seqs past the log's last one, up to the reserved one, may have reached a
   * subscriber before a crash. Fill them with the last progress the log knows, so a replay has every
   * seq and no later event takes one of them.
   */
  recover(): number {
    const t = this.task();
    if (!t || t.seqReserved <= t.seq) return 0;
    const filled = t.seqReserved - t.seq;
    this.tx(() => {
      const step = this.steps()[t.currentStep];
      const fillers: TaskEvent[] = [];
      for (let seq = t.seq + 1; seq <= t.seqReserved; seq++) {
        fillers.push({
          kind: 'progress',
          seq,
          at: t.updatedAt,
          step: t.currentStep,
          stage: t.stage ?? 'starting',
          progress: t.progress,
          stepProgress: step?.progress ?? 0,
          message: t.message,
        });
      }
      this.log.append(fillers);
      this.setRow({ seq: t.seqReserved });
      this.cachedTask = { ...t, seq: t.seqReserved };
      this.settleReserve();
    });
    return filled;
  }

  /** Append a non-status event, with an optional patch of the task row, in one transaction. */
  appendEvent(event: NewEvent, patch: TaskPatch = {}, now = Date.now()): TaskEvent {
    return this.tx(() => {
      const e = this.insertEvent(event, patch, now);
      this.settleReserve();
      return e;
    });
  }

  /** Add an output (or replace the one of the same name). */
  addOutput(o: OutputRow): void {
    this.tx(() => {
      const next = [...this.outputs().filter((x) => x.name !== o.name), o];
      next.sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      this.setOutputs(next);
    });
  }

  removeOutput(name: string): void {
    this.tx(() => this.setOutputs(this.outputs().filter((x) => x.name !== name)));
  }

  /** Inside a transaction: the outputs as they now are, written with the task row. */
  private setOutputs(outputs: OutputRow[]): void {
    this.cachedOutputs = outputs;
    this.setRow({ outputs: JSON.stringify(outputs) });
  }

  /**
   * Update task fields without an event, written like progress: with the next write, at most
   * FLUSH_INTERVAL_MS later (pending-progress.ts). For what the running attempt may lose in a crash:
   * the job id once the runner accepted the job (a restart sends the same job again, which the runner
   * answers as the one it has), the stage while an output is stored.
   */
  patch(patch: TaskPatch, now = Date.now()): void {
    if (!this.task()) throw new ClipyardError('task.not_found', 'no such task', { status: 404 });
    this.pending.addPatch(patch, now);
    this.patchCache(patch, now);
    this.armFlush();
  }

  /** Bound the event log (see event-log.ts). */
  compact(maxRows?: number, keepRecent?: number): number {
    const t = this.task();
    return t ? this.log.compact(t.seq, maxRows, keepRecent) : 0;
  }

  /** Forget everything (the task was deleted); the caller applies the schema again. */
  wipe(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.pending.clear();
    this.forget();
    this.companion?.forget();
    return this.storage.deleteAll();
  }

  /** The durable row as the pending progress events leave it. */
  private withPending(t: TaskRow): TaskRow {
    const last = this.pending.lastSeq;
    // while a transaction writes them, the row read back already has them
    if (!this.pending.dirty || this.flushing) return t;
    return { ...t, ...this.pending.patch, seq: Math.max(t.seq, last ?? 0), updatedAt: this.pending.at };
  }

  /** Inside a transaction: write the pending progress events and the row as they leave it. */
  private flushPending(): void {
    if (!this.pending.dirty || this.flushing) return;
    // the row as the pending events leave it, read before `flushing` is set
    this.task();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.flushing = true;
    this.log.append(this.pending.events);
    // the steps as read include what is pending
    if (this.pending.steps.size > 0) this.setSteps(this.steps());
    const last = this.pending.lastSeq;
    this.setRow({ ...this.patchColumns(this.pending.patch, this.pending.at), ...(last === null ? {} : { seq: last }) });
    this.settleReserve();
  }

  /**
   * Inside a transaction: while the task runs, keep SEQ_RESERVE seqs reserved past the log (topped
   * up when half is used); otherwise reserve none, so a restart of a task that is not running has
   * nothing to fill.
   */
  private settleReserve(): void {
    const t = this.cachedTask;
    if (!t) return;
    const seq = t.seq;
    const want = t.status === 'running' ? (t.seqReserved - seq < SEQ_RESERVE / 2 ? seq + SEQ_RESERVE : null) : seq;
    if (want === null || want === t.seqReserved) return;
    this.setRow({ seq_reserved: want });
    this.cachedTask = { ...t, seqReserved: want };
  }

  private writePatch(patch: TaskPatch, now: number): void {
    this.setRow(this.patchColumns(patch, now));
    this.patchCache(patch, now);
  }

  /** Inside a transaction: columns of the task row to write when it ends (a later value wins). */
  private setRow(columns: Record<string, SqlStorageValue>): void {
    this.row.set(columns);
  }

  /** Inside a transaction: the steps as they now are, written with the task row (its `steps` column). */
  private setSteps(steps: readonly StepRow[]): void {
    this.cachedSteps = [...steps];
    this.setRow({ steps: JSON.stringify(steps) });
  }

  private patchColumns(patch: TaskPatch, now: number): Record<string, SqlStorageValue> {
    const out: Record<string, SqlStorageValue> = { updated_at: now };
    for (const [k, v] of Object.entries(patch) as [keyof TaskPatch, TaskPatch[keyof TaskPatch]][]) {
      if (v === undefined) continue;
      out[PATCH_COLUMNS[k]] = k === 'lastError' ? (v ? JSON.stringify(v) : null) : (v as SqlStorageValue);
    }
    return out;
  }

  private patchCache(patch: TaskPatch, now: number, seq?: number): void {
    const t = this.cachedTask;
    if (!t) return;
    const next: TaskRow = { ...t, updatedAt: now };
    for (const [k, v] of Object.entries(patch) as [keyof TaskPatch, TaskPatch[keyof TaskPatch]][]) {
      if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
    }
    if (seq !== undefined) next.seq = seq;
    this.cachedTask = next;
  }

  /** Inside a transaction: the next event, numbered from the row's seq (written with the row). */
  private insertEvent(event: NewEvent, patch: TaskPatch, now: number): TaskEvent {
    const t = this.task();
    if (!t) throw new ClipyardError('task.not_found', 'no such task', { status: 404 });
    const e = { ...event, seq: t.seq + 1, at: now } as TaskEvent;
    this.log.append([e]);
    this.companion?.observe(e);
    this.setRow({ ...this.patchColumns(patch, now), seq: e.seq });
    this.patchCache(patch, now, e.seq);
    return e;
  }
}

/** A move that changes nothing stored (e.g. an alarm that only asks the tenant for a slot): no write. */
function isEmptyMove(move: Move): boolean {
  return (
    move.to === null &&
    !move.resetUnfinishedSteps &&
    move.steps.length === 0 &&
    move.events.length === 0 &&
    Object.values(move.patch).every((v) => v === undefined)
  );
}
