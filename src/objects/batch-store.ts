/**
 * The batch object's storage: typed reads and writes over its SQLite tables.
 *
 * SQLite is the source of truth; nothing here caches. A child report, the child's event, and (when the
 * batch's status follows from it) the batch's status event are written in one transaction, so the log
 * never disagrees with the snapshot. Aggregate progress is computed from the children rows. The log
 * itself (seq, replay, compaction) is event-log.ts, shared with the task object.
 */
import {
  aggregateProgress,
  batchStatusOf,
  countStatuses,
  describeCounts,
  isBatchFinished,
  mergeChildProgress,
} from '../lib/batch-progress.ts';
import type {
  BatchChild,
  BatchEvent,
  BatchSnapshot,
  BatchStatus,
  ChildOutput,
  ChildReport,
  StatusCounts,
} from '../protocol/batch.ts';
import { ClipyardError, type ErrorBody } from '../protocol/errors.ts';
import type { CreateTaskBody, TaskStatus } from '../protocol/task.ts';
import { EventLog } from './event-log.ts';

type Row = Record<string, SqlStorageValue>;

/** Distributive Omit, so each member of the BatchEvent union keeps its own fields. */
export type NewBatchEvent = BatchEvent extends infer E ? (E extends BatchEvent ? Omit<E, 'seq' | 'at'> : never) : never;

export interface BatchRow {
  id: string;
  tenant: string;
  status: BatchStatus;
  label: string | null;
  bodyHash: string;
  origin: string;
  progress: number;
  seq: number;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export interface ChildRow {
  index: number;
  taskId: string;
  body: CreateTaskBody;
  inputKey: string | null;
  bodyHash: string;
  created: boolean;
  createAttempts: number;
  status: TaskStatus;
  progress: number;
  message: string;
  error: ErrorBody | null;
  taskSeq: number;
  outputs: ChildOutput[];
  checkedAt: number;
}

export interface NewChild {
  taskId: string;
  body: CreateTaskBody;
  inputKey: string | null;
  bodyHash: string;
}

function toChild(r: Row): ChildRow {
  return {
    index: Number(r.idx),
    taskId: String(r.task_id),
    body: JSON.parse(String(r.body)) as CreateTaskBody,
    inputKey: r.input_key == null ? null : String(r.input_key),
    bodyHash: String(r.body_hash),
    created: Number(r.created) === 1,
    createAttempts: Number(r.create_attempts),
    status: r.status as TaskStatus,
    progress: Number(r.progress),
    message: String(r.message ?? ''),
    error: r.error ? (JSON.parse(String(r.error)) as ErrorBody) : null,
    taskSeq: Number(r.task_seq),
    outputs: JSON.parse(String(r.outputs)) as ChildOutput[],
    checkedAt: Number(r.checked_at),
  };
}

export class BatchStore {
  private readonly storage: DurableObjectStorage;
  private readonly log: EventLog<BatchEvent>;

  constructor(storage: DurableObjectStorage) {
    this.storage = storage;
    this.log = new EventLog<BatchEvent>(storage.sql, 'batch');
  }

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  batch(): BatchRow | null {
    const r = this.sql.exec<Row>('SELECT * FROM batch LIMIT 1').toArray()[0];
    if (!r) return null;
    return {
      id: String(r.id),
      tenant: String(r.tenant),
      status: r.status as BatchStatus,
      label: r.label == null ? null : String(r.label),
      bodyHash: String(r.body_hash),
      origin: String(r.origin),
      progress: Number(r.progress),
      seq: Number(r.seq),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
      finishedAt: r.finished_at == null ? null : Number(r.finished_at),
    };
  }

  /** The batch row, or batch.not_found when it does not exist or belongs to another tenant. */
  require(tenant: string): BatchRow {
    const b = this.batch();
    if (!b || b.tenant !== tenant) throw new ClipyardError('batch.not_found', 'no such batch', { status: 404 });
    return b;
  }

  children(): ChildRow[] {
    return this.sql.exec<Row>('SELECT * FROM children ORDER BY idx').toArray().map(toChild);
  }

  child(taskId: string): ChildRow | null {
    const r = this.sql.exec<Row>('SELECT * FROM children WHERE task_id = ?', taskId).toArray()[0];
    return r ? toChild(r) : null;
  }

  counts(): StatusCounts {
    return countStatuses(this.progressRows().map((c) => c.status));
  }

  /** Status and progress of every child: what counts and the aggregate need, without the bodies. */
  private progressRows(): { status: TaskStatus; progress: number }[] {
    return this.sql
      .exec<Row>('SELECT status, progress FROM children ORDER BY idx')
      .toArray()
      .map((r) => ({ status: r.status as TaskStatus, progress: Number(r.progress) }));
  }

  /** Events with seq > after, oldest first. */
  eventsAfter(after: number, limit = 10_000): BatchEvent[] {
    return this.log.after(after, limit);
  }

  create(init: {
    id: string;
    tenant: string;
    label: string | null;
    bodyHash: string;
    origin: string;
    children: readonly NewChild[];
    now: number;
  }): BatchEvent {
    return this.storage.transactionSync(() => {
      this.sql.exec(
        `INSERT INTO batch (id, tenant, status, label, body_hash, origin, created_at, updated_at)
         VALUES (?, ?, 'running', ?, ?, ?, ?, ?)`,
        init.id,
        init.tenant,
        init.label,
        init.bodyHash,
        init.origin,
        init.now,
        init.now,
      );
      init.children.forEach((c, i) => {
        this.sql.exec(
          `INSERT INTO children (idx, task_id, body, input_key, body_hash, status, message, checked_at)
           VALUES (?, ?, ?, ?, ?, 'queued', 'being created', ?)`,
          i,
          c.taskId,
          JSON.stringify(c.body),
          c.inputKey,
          c.bodyHash,
          init.now,
        );
      });
      const counts = this.counts();
      return this.insertEvent(
        { kind: 'status', status: 'running', message: describeCounts(counts, 'running'), counts },
        init.now,
      );
    });
  }

  /** A create of the child's task was tried and failed; returns the attempts so far. */
  noteCreateFailure(taskId: string, now = Date.now()): number {
    const row = this.sql
      .exec<{ n: number }>(
        'UPDATE children SET create_attempts = create_attempts + 1, checked_at = ? WHERE task_id = ? RETURNING create_attempts AS n',
        now,
        taskId,
      )
      .one();
    return Number(row.n);
  }

  /**
   * Apply what a child says about itself. A report older than what the batch knows (by the task's
   * seq) changes nothing. Returns the events written: the child's (when its status changed) and the
   * batch's (when its status followed), preceded by a final progress event when the batch finished.
   */
  applyReport(report: ChildReport, now = Date.now(), opts: { created?: boolean } = {}): BatchEvent[] {
    return this.storage.transactionSync(() => {
      const c = this.child(report.taskId);
      if (!c) return [];
      const created = c.created || opts.created === true;
      if (report.seq <= c.taskSeq) {
        // Stale (a newer report overtook it), but it still proves the task exists.
        this.sql.exec('UPDATE children SET checked_at = ?, created = ? WHERE idx = ?', now, created ? 1 : 0, c.index);
        return [];
      }
      const progress = mergeChildProgress(c, report);
      this.sql.exec(
        `UPDATE children SET created = ?, status = ?, progress = ?, message = ?, error = ?, task_seq = ?,
           outputs = ?, checked_at = ? WHERE idx = ?`,
        created ? 1 : 0,
        report.status,
        progress,
        report.message,
        report.error ? JSON.stringify(report.error) : null,
        report.seq,
        JSON.stringify(report.outputs),
        now,
        c.index,
      );
      const events: BatchEvent[] = [];
      if (report.status !== c.status) {
        const e: NewBatchEvent = {
          kind: 'child',
          index: c.index,
          id: c.taskId,
          status: report.status,
          progress,
          message: report.message,
        };
        if (report.error && (report.status === 'failed' || report.status === 'retrying')) e.error = report.error;
        events.push(this.insertEvent(e, now));
      }
      events.push(...this.settleStatus(now));
      return events;
    });
  }

  /**
   * Append an aggregate progress event when the figure moved since the last one (or `force`).
   * Returns it, or null when there was nothing new to say.
   */
  appendProgress(now = Date.now(), force = false): BatchEvent | null {
    return this.storage.transactionSync(() => {
      const b = this.batch();
      if (!b) return null;
      const progress = aggregateProgress(this.progressRows());
      if (!force && progress === b.progress) return null;
      this.sql.exec('UPDATE batch SET progress = ?, updated_at = ?', progress, now);
      return this.insertEvent({ kind: 'progress', progress, counts: this.counts() }, now);
    });
  }

  snapshot(): BatchSnapshot | null {
    const b = this.batch();
    if (!b) return null;
    const rows = this.children();
    const counts = countStatuses(rows.map((c) => c.status));
    const children: BatchChild[] = rows.map((c) => ({
      index: c.index,
      id: c.taskId,
      status: c.status,
      progress: c.progress,
      message: c.message,
      error: c.status === 'failed' || c.status === 'retrying' ? c.error : null,
      outputs: c.outputs.map(({ name, size, contentType }) => ({ name, size, contentType })),
    }));
    return {
      id: b.id,
      status: b.status,
      label: b.label,
      progress: aggregateProgress(rows),
      total: rows.length,
      counts,
      children,
      seq: b.seq,
      createdAt: b.createdAt,
      updatedAt: b.updatedAt,
      finishedAt: b.finishedAt,
    };
  }

  /** Bound the event log (see event-log.ts). */
  compact(maxRows?: number, keepRecent?: number): number {
    const b = this.batch();
    return b ? this.log.compact(b.seq, maxRows, keepRecent) : 0;
  }

  /** Bring the batch's status in line with its children's (inside the caller's transaction). */
  private settleStatus(now: number): BatchEvent[] {
    const b = this.batch();
    if (!b) return [];
    const counts = this.counts();
    const status = batchStatusOf(counts);
    if (status === b.status) return [];
    const events: BatchEvent[] = [];
    const finished = isBatchFinished(status);
    if (finished) {
      // The bar's last word before the outcome: 100, every child having finished.
      this.sql.exec('UPDATE batch SET progress = 100');
      events.push(this.insertEvent({ kind: 'progress', progress: 100, counts }, now));
    }
    this.sql.exec('UPDATE batch SET status = ?, finished_at = ?, updated_at = ?', status, finished ? now : null, now);
    events.push(this.insertEvent({ kind: 'status', status, message: describeCounts(counts, status), counts }, now));
    return events;
  }

  private insertEvent(event: NewBatchEvent, now: number): BatchEvent {
    return this.log.append(event, now, ['updated_at = ?'], [now]);
  }
}
