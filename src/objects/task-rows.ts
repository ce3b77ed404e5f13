/**
 * The rows of a task object's SQLite tables as typed values, how the task row is read, and how a
 * transaction writes it (RowWriter). Used by TaskStore (the only module that reads or writes those
 * tables) and the modules that take its rows.
 */
import type { TaskPatch } from '../lib/task-lifecycle.ts';
import type { ErrorBody } from '../protocol/errors.ts';
import type { Op, Step } from '../protocol/ops.ts';
import type { Stage } from '../protocol/runner.ts';
import type { StepStatus, TaskEvent, TaskInput, TaskStatus } from '../protocol/task.ts';

export type Row = Record<string, SqlStorageValue>;

export interface TaskRow {
  id: string;
  tenant: string;
  status: TaskStatus;
  stage: Stage | null;
  progress: number;
  message: string;
  attempt: number;
  maxAttempts: number;
  /** attempts one run may use: the task's own maxAttempts as created (a manual retry grants as many again) */
  attemptsPerRun: number;
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
  /** the highest seq handed out ahead of the log may reach (see pending-progress.ts) */
  seqReserved: number;
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

export const PATCH_COLUMNS: Record<keyof TaskPatch, string> = {
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

export function toTask(r: Row): TaskRow {
  return {
    id: String(r.id),
    tenant: String(r.tenant),
    status: r.status as TaskStatus,
    stage: (r.stage as Stage | null) ?? null,
    progress: Number(r.progress),
    message: String(r.message ?? ''),
    attempt: Number(r.attempt),
    maxAttempts: Number(r.max_attempts),
    attemptsPerRun: Number(r.attempts_per_run) || Number(r.max_attempts),
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
    seqReserved: Number(r.seq_reserved ?? 0),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** What a create knows of a new task. */
export interface NewTask {
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
}

/** A new task's row as inserted, every column (queued, its first event's seq 1), and that first event. */
export function newTaskRow(init: NewTask): { row: Record<string, SqlStorageValue>; first: TaskEvent } {
  const row: Record<string, SqlStorageValue> = {
    id: init.id,
    tenant: init.tenant,
    status: 'queued',
    // every column, defaults too: the row as inserted is the store's copy, read back by no query
    stage: null,
    progress: 0,
    message: 'waiting to start',
    attempt: 1,
    run_at: null,
    last_error: null,
    current_step: 0,
    job_id: null,
    job_seq: 0,
    seq_reserved: 0,
    max_attempts: init.maxAttempts,
    attempts_per_run: init.maxAttempts,
    input: JSON.stringify(init.input),
    input_key: init.inputKey,
    label: init.label,
    body_hash: init.bodyHash,
    batch_id: init.batchId ?? null,
    seq: 1,
    created_at: init.now,
    updated_at: init.now,
    steps: JSON.stringify(
      init.steps.map((step, index): StepRow => ({ index, op: step.op, params: step, status: 'pending', progress: 0 })),
    ),
    outputs: '[]',
  };
  const first: TaskEvent = {
    kind: 'status',
    status: 'queued',
    message: 'waiting to start',
    attempt: 1,
    progress: 0,
    seq: 1,
    at: init.now,
  };
  return { row, first };
}

/**
 * The task row's columns a transaction may change, in the order of the one UPDATE that writes them
 * (the others are written once, by the create INSERT).
 */
export const ROW_COLUMNS = [
  'status',
  'stage',
  'progress',
  'message',
  'attempt',
  'max_attempts',
  'run_at',
  'last_error',
  'current_step',
  'job_id',
  'job_seq',
  'seq',
  'seq_reserved',
  'updated_at',
  'steps',
  'outputs',
  'timeline',
  'tail',
] as const;
const IN_ROW = new Set<string>(ROW_COLUMNS);
const UPDATE_ROW = `UPDATE task SET ${ROW_COLUMNS.map((c) => `${c} = ?`).join(', ')}`;

/**
 * How a transaction writes the task row: the columns it changes are gathered (a later value wins)
 * and written at its end by one UPDATE, always the same statement text with every column of
 * ROW_COLUMNS, the unchanged ones from the row as stored. Each UPDATE is a row written (and billed)
 * even on the same row, so a move that changes the status, bumps the seq for two events and tops up
 * the reserve writes the row once, not four times; and SQLite rewrites the whole record on any
 * UPDATE anyway, while a statement text per set of columns would be compiled once per object each
 * (many texts: a move, a flush, a patch, each with its own set). Used only by TaskStore.
 */
export class RowWriter {
  private readonly sql: SqlStorage;
  /** the row's ROW_COLUMNS as stored; undefined: not read yet (or dropped) */
  private stored: Map<string, SqlStorageValue> | undefined;
  /** inside a transaction: what it changes; null outside one */
  private changes: Map<string, SqlStorageValue> | null = null;
  /** inside a create's transaction: the new row, inserted at its end with what the transaction changed */
  private inserting: Row | null = null;

  constructor(sql: SqlStorage) {
    this.sql = sql;
  }

  get inTransaction(): boolean {
    return this.changes !== null;
  }

  /** The row was read whole (`SELECT *`): its values as stored. */
  read(r: Row): void {
    if (this.changes?.size) return;
    this.stored = new Map(ROW_COLUMNS.map((c) => [c, r[c] ?? null]));
  }

  begin(): void {
    this.changes = new Map();
  }

  /**
   * Inside a transaction: the task row is new (every column, as newTaskRow gives it). It is written
   * at the transaction's end by one INSERT that carries the transaction's other changes too, so a
   * move made on the new row (a grant at once) costs no UPDATE of its own.
   */
  insert(row: Row): void {
    if (!this.changes) throw new Error('task row written outside a transaction');
    this.inserting = row;
    this.stored = new Map(ROW_COLUMNS.map((c) => [c, row[c] ?? null]));
  }

  /** Inside a transaction: columns to write when it ends. */
  set(columns: Record<string, SqlStorageValue>): void {
    if (!this.changes) throw new Error('task row written outside a transaction');
    for (const [k, v] of Object.entries(columns)) this.changes.set(k, v);
  }

  /** At the end of a transaction: its changes (and `more`) as one UPDATE, if it changed anything. */
  write(...more: (Record<string, SqlStorageValue> | null | undefined)[]): void {
    const changes = this.changes;
    if (!changes) return;
    this.changes = null;
    for (const extra of more) if (extra) for (const [k, v] of Object.entries(extra)) changes.set(k, v);
    const inserting = this.inserting;
    if (inserting) {
      this.inserting = null;
      // the changes are columns the new row has: the same INSERT text for every create
      for (const [k, v] of changes) inserting[k] = v;
      const cols = Object.keys(inserting);
      this.sql.exec(
        `INSERT INTO task (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
        ...Object.values(inserting),
      );
      this.stored = new Map(ROW_COLUMNS.map((c) => [c, inserting[c] ?? null]));
      return;
    }
    if (changes.size === 0) return;
    if ([...changes.keys()].some((k) => !IN_ROW.has(k))) {
      // a column outside the usual set: its own statement (none today)
      const entries = [...changes];
      this.sql.exec(`UPDATE task SET ${entries.map(([k]) => `${k} = ?`).join(', ')}`, ...entries.map(([, v]) => v));
      this.stored = undefined;
      return;
    }
    if (!this.stored) {
      const r = this.sql.exec<Row>('SELECT * FROM task LIMIT 1').toArray()[0];
      if (!r) return;
      this.read(r);
    }
    const stored = this.stored!;
    for (const [k, v] of changes) stored.set(k, v);
    this.sql.exec(UPDATE_ROW, ...ROW_COLUMNS.map((c) => stored.get(c) ?? null));
  }

  /** Write these columns now, on their own (inside a transaction: with its other changes). */
  writeNow(columns: Record<string, SqlStorageValue>): void {
    const alone = !this.changes;
    if (alone) this.begin();
    this.set(columns);
    if (alone) this.write();
  }

  /** The transaction rolled back (or the row is gone): read SQLite again. */
  forget(): void {
    this.changes = null;
    this.inserting = null;
    this.stored = undefined;
  }
}
