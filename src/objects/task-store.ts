/**
 * The task object's storage: typed reads and writes over its SQLite tables.
 *
 * SQLite is the source of truth; nothing here caches. Every change of state goes through
 * `transition()` or `appendEvent()`, which write the state and the numbered event in one transaction,
 * so the event log can never disagree with the status.
 */

import { canTransition } from '../lib/task-status.ts';
import type { ErrorBody } from '../protocol/errors.ts';
import { ClipyardError } from '../protocol/errors.ts';
import type { Op, Step } from '../protocol/ops.ts';
import type { Stage } from '../protocol/runner.ts';
import type {
  OutputInfo,
  StepSnapshot,
  StepStatus,
  TaskEvent,
  TaskInput,
  TaskSnapshot,
  TaskStatus,
} from '../protocol/task.ts';

type Row = Record<string, SqlStorageValue>;

export interface TaskRow {
  id: string;
  tenant: string;
  status: TaskStatus;
  stage: Stage | null;
  progress: number;
  message: string;
  attempt: number;
  maxAttempts: number;
  runAt: number | null;
  lastError: ErrorBody | null;
  input: TaskInput;
  /** R2 key of the input when it is an upload or another task's output */
  inputKey: string | null;
  label: string | null;
  bodyHash: string;
  /** the batch this task was created in, which it reports its progress to */
  batchId: string | null;
  currentStep: number;
  jobId: string | null;
  jobSeq: number;
  seq: number;
  createdAt: number;
  updatedAt: number;
}

export interface StepRow {
  index: number;
  op: Op;
  params: Step;
  status: StepStatus;
  progress: number;
}

export interface OutputRow {
  name: string;
  step: number;
  key: string;
  size: number;
  contentType: string;
  createdAt: number;
  expiresAt: number;
}

/** Distributive Omit, so each member of the TaskEvent union keeps its own fields. */
export type NewEvent = TaskEvent extends infer E ? (E extends TaskEvent ? Omit<E, 'seq' | 'at'> : never) : never;

/** Task fields a transition or event may update alongside it. */
export interface TaskPatch {
  stage?: Stage | null;
  progress?: number;
  message?: string;
  attempt?: number;
  runAt?: number | null;
  lastError?: ErrorBody | null;
  currentStep?: number;
  jobId?: string | null;
  jobSeq?: number;
  maxAttempts?: number;
}

const PATCH_COLUMNS: Record<keyof TaskPatch, string> = {
  stage: 'stage',
  progress: 'progress',
  message: 'message',
  attempt: 'attempt',
  runAt: 'run_at',
  lastError: 'last_error',
  currentStep: 'current_step',
  jobId: 'job_id',
  jobSeq: 'job_seq',
  maxAttempts: 'max_attempts',
};

export class TaskStore {
  private readonly storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.storage = storage;
  }

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  task(): TaskRow | null {
    const rows = this.sql.exec<Row>('SELECT * FROM task LIMIT 1').toArray();
    const r = rows[0];
    if (!r) return null;
    return {
      id: String(r.id),
      tenant: String(r.tenant),
      status: r.status as TaskStatus,
      stage: (r.stage as Stage | null) ?? null,
      progress: Number(r.progress),
      message: String(r.message ?? ''),
      attempt: Number(r.attempt),
      maxAttempts: Number(r.max_attempts),
      runAt: r.run_at == null ? null : Number(r.run_at),
      lastError: r.last_error ? (JSON.parse(String(r.last_error)) as ErrorBody) : null,
      input: JSON.parse(String(r.input)) as TaskInput,
      inputKey: r.input_key == null ? null : String(r.input_key),
      label: r.label == null ? null : String(r.label),
      bodyHash: String(r.body_hash),
      batchId: r.batch_id == null ? null : String(r.batch_id),
      currentStep: Number(r.current_step),
      jobId: r.job_id == null ? null : String(r.job_id),
      jobSeq: Number(r.job_seq),
      seq: Number(r.seq),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
    };
  }

  /** The task row, or task.not_found when it does not exist or belongs to another tenant. */
  require(tenant: string): TaskRow {
    const t = this.task();
    if (!t || t.tenant !== tenant) throw new ClipyardError('task.not_found', 'no such task', { status: 404 });
    return t;
  }

  steps(): StepRow[] {
    return this.sql
      .exec<Row>('SELECT * FROM steps ORDER BY idx')
      .toArray()
      .map((r) => ({
        index: Number(r.idx),
        op: r.op as Op,
        params: JSON.parse(String(r.params)) as Step,
        status: r.status as StepStatus,
        progress: Number(r.progress),
      }));
  }

  outputs(): OutputRow[] {
    return this.sql
      .exec<Row>('SELECT * FROM outputs ORDER BY created_at, name')
      .toArray()
      .map((r) => ({
        name: String(r.name),
        step: Number(r.step),
        key: String(r.r2_key),
        size: Number(r.size),
        contentType: String(r.content_type),
        createdAt: Number(r.created_at),
        expiresAt: Number(r.expires_at),
      }));
  }

  output(name: string): OutputRow | null {
    return this.outputs().find((o) => o.name === name) ?? null;
  }

  /** Events with seq > after, oldest first. */
  eventsAfter(after: number, limit = 10_000): TaskEvent[] {
    return this.sql
      .exec<Row>('SELECT seq, at, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?', after, limit)
      .toArray()
      .map((r) => ({ ...(JSON.parse(String(r.body)) as object), seq: Number(r.seq), at: Number(r.at) }) as TaskEvent);
  }

  create(init: {
    id: string;
    tenant: string;
    input: TaskInput;
    inputKey: string | null;
    steps: readonly Step[];
    maxAttempts: number;
    label: string | null;
    bodyHash: string;
    batchId?: string | null;
    now: number;
  }): TaskEvent {
    return this.storage.transactionSync(() => {
      this.sql.exec(
        `INSERT INTO task (id, tenant, status, message, max_attempts, input, input_key, label, body_hash, batch_id, created_at, updated_at)
         VALUES (?, ?, 'queued', 'waiting to start', ?, ?, ?, ?, ?, ?, ?, ?)`,
        init.id,
        init.tenant,
        init.maxAttempts,
        JSON.stringify(init.input),
        init.inputKey,
        init.label,
        init.bodyHash,
        init.batchId ?? null,
        init.now,
        init.now,
      );
      init.steps.forEach((step, i) => {
        this.sql.exec(
          "INSERT INTO steps (idx, op, params, status) VALUES (?, ?, ?, 'pending')",
          i,
          step.op,
          JSON.stringify(step),
        );
      });
      return this.insertEvent({ kind: 'status', status: 'queued', message: 'waiting to start', attempt: 1 }, init.now);
    });
  }

  /**
   * The one way a task changes status: checks the move is legal, writes the row and appends the
   * status event in the same transaction.
   */
  transition(to: TaskStatus, message: string, patch: TaskPatch = {}, now = Date.now()): TaskEvent {
    return this.storage.transactionSync(() => {
      const t = this.task();
      if (!t) throw new ClipyardError('task.not_found', 'no such task', { status: 404 });
      if (!canTransition(t.status, to)) {
        throw new ClipyardError('task.illegal_transition', `a ${t.status} task cannot become ${to}`, { status: 409 });
      }
      this.sql.exec('UPDATE task SET status = ?, message = ? WHERE id = ?', to, message, t.id);
      this.patch({ ...patch }, now);
      const attempt = patch.attempt ?? t.attempt;
      const event: NewEvent = { kind: 'status', status: to, message, attempt };
      if (patch.lastError && (to === 'failed' || to === 'retrying')) event.error = patch.lastError;
      if (to === 'retrying' && patch.runAt) event.nextRetryAt = patch.runAt;
      return this.insertEvent(event, now);
    });
  }

  /** Append a non-status event, with an optional patch of the task row, in one transaction. */
  appendEvent(event: NewEvent, patch: TaskPatch = {}, now = Date.now()): TaskEvent {
    return this.storage.transactionSync(() => {
      this.patch(patch, now);
      return this.insertEvent(event, now);
    });
  }

  setStep(index: number, status: StepStatus, progress?: number, now = Date.now()): void {
    const col = status === 'running' ? 'started_at' : 'finished_at';
    if (progress === undefined) {
      this.sql.exec(`UPDATE steps SET status = ?, ${col} = ? WHERE idx = ?`, status, now, index);
    } else {
      this.sql.exec(
        `UPDATE steps SET status = ?, progress = ?, ${col} = ? WHERE idx = ?`,
        status,
        progress,
        now,
        index,
      );
    }
  }

  setStepProgress(index: number, progress: number): void {
    this.sql.exec('UPDATE steps SET progress = ? WHERE idx = ?', progress, index);
  }

  /** Steps not yet succeeded go back to pending (a retry resumes at the first of them). */
  resetUnfinishedSteps(): void {
    this.sql.exec("UPDATE steps SET status = 'pending', progress = 0 WHERE status != 'succeeded'");
  }

  addOutput(o: OutputRow): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO outputs (name, step, r2_key, size, content_type, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      o.name,
      o.step,
      o.key,
      o.size,
      o.contentType,
      o.createdAt,
      o.expiresAt,
    );
  }

  removeOutput(name: string): void {
    this.sql.exec('DELETE FROM outputs WHERE name = ?', name);
  }

  patch(patch: TaskPatch, now = Date.now()): void {
    const sets: string[] = ['updated_at = ?'];
    const values: SqlStorageValue[] = [now];
    for (const [k, v] of Object.entries(patch) as [keyof TaskPatch, TaskPatch[keyof TaskPatch]][]) {
      if (v === undefined) continue;
      sets.push(`${PATCH_COLUMNS[k]} = ?`);
      values.push(k === 'lastError' ? (v ? JSON.stringify(v) : null) : (v as SqlStorageValue));
    }
    this.sql.exec(`UPDATE task SET ${sets.join(', ')}`, ...values);
  }

  snapshot(outputUrls: Record<string, string> = {}): TaskSnapshot | null {
    const t = this.task();
    if (!t) return null;
    const outputs = this.outputs();
    const steps: StepSnapshot[] = this.steps().map((s) => {
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
      steps,
      outputs: outs,
      error: t.lastError && (t.status === 'failed' || t.status === 'retrying') ? t.lastError : null,
      seq: t.seq,
      createdAt: t.createdAt,
      updatedAt: t.updatedAt,
    };
  }

  /**
   * Keep the log bounded: once it holds more than `maxRows` events, progress events older than the
   * newest `keepRecent` are deleted, except the last progress event of each step. Status, step, output
   * and log events are never removed, so replaying what is left (after the snapshot every subscriber
   * gets first) still ends in the right state; seq numbers are never reused.
   */
  compact(maxRows = 2_000, keepRecent = 500): number {
    const count = Number(this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM events').one().n);
    if (count <= maxRows) return 0;
    const t = this.task();
    if (!t) return 0;
    const cursor = this.sql.exec(
      `DELETE FROM events WHERE kind = 'progress' AND seq <= ?
         AND seq NOT IN (SELECT MAX(seq) FROM events WHERE kind = 'progress' GROUP BY json_extract(body, '$.step'))`,
      t.seq - keepRecent,
    );
    return cursor.rowsWritten;
  }

  private insertEvent(event: NewEvent, now: number): TaskEvent {
    const row = this.sql.exec<{ seq: number }>('UPDATE task SET seq = seq + 1 RETURNING seq').one();
    const seq = Number(row.seq);
    this.sql.exec(
      'INSERT INTO events (seq, at, kind, body) VALUES (?, ?, ?, ?)',
      seq,
      now,
      event.kind,
      JSON.stringify(event),
    );
    return { ...event, seq, at: now } as TaskEvent;
  }
}
