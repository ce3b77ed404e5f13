/**
 * A tenant's task index (table `tasks` in the TenantObject's SQLite): one row per task, for
 * GET /api/tasks and the counts in /api/health. The task objects are the truth; each row carries
 * its task's event seq, so a late report never overwrites a newer one. Used only by TenantObject.
 *
 * Its indexes are what each write pays for (an index entry is a row written): newest first
 * (`tasks_by_created`, written once per task) and failed or canceled rows by status
 * (`tasks_ended_badly`, once per such task). The counts, and the list's filter by an active status,
 * come from the tally (tenant-tally.ts), which every write here keeps; a filter by `succeeded`, the
 * common status, reads newest first.
 */
import { isTerminal } from '../lib/task-status.ts';
import { TASK_STATUSES, type TaskListEntry, type TaskStatus } from '../protocol/task.ts';
import { type TallyRow, TenantTally } from './tenant-tally.ts';

/** What a task object reports to its tenant (the same shape GET /api/tasks lists). */
export type TaskIndexEntry = TaskListEntry;

export interface TaskListQuery {
  status?: TaskStatus | undefined;
  q?: string | undefined;
  limit?: number | undefined;
  /** opaque cursor from a previous page */
  cursor?: string | undefined;
}

/** Longest source URL or message kept in the index. */
const MAX_TEXT_CHARS = 500;

type Row = Record<string, SqlStorageValue>;

function toEntry(r: Row): TaskIndexEntry {
  return {
    id: String(r.id),
    status: r.status as TaskStatus,
    label: r.label == null ? null : String(r.label),
    source: String(r.source),
    ops: String(r.ops),
    progress: Number(r.progress),
    message: String(r.message),
    attempt: Number(r.attempt),
    seq: Number(r.seq),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** The row a task has once the tenant has handed it a slot: running, at the seq of its running event. */
export function runningEntry(queued: TaskIndexEntry, now: number): TaskIndexEntry {
  return { ...queued, status: 'running', message: 'starting', seq: queued.seq + 1, updatedAt: now };
}

/** The statuses `tasks_ended_badly` holds (its WHERE clause, repeated in queries that use it). */
const ENDED_BADLY = "status IN ('failed','canceled')";

/** The predicate of the list's text search (`q`), twice bound. */
const TEXT_MATCH = "(instr(lower(source), lower(?)) > 0 OR instr(lower(coalesce(label, '')), lower(?)) > 0)";

export class TenantIndex {
  private readonly sql: SqlStorage;
  /** null until first needed after a wake, or after a transaction that wrote through it failed */
  private tallyCopy: TenantTally | null = null;

  constructor(sql: SqlStorage) {
    this.sql = sql;
  }

  private get tally(): TenantTally {
    this.tallyCopy ??= TenantTally.load(this.sql);
    return this.tallyCopy;
  }

  /** Forget the tally (a transaction that wrote through it rolled back). */
  invalidate(): void {
    this.tallyCopy = null;
  }

  /** What the tally and the seq check need of a stored row, and whether it counts against its day's quota. */
  private stored(id: string): (TallyRow & { seq: number; counted: boolean }) | null {
    const r = this.sql
      .exec<{ status: TaskStatus; created_at: number; updated_at: number; seq: number; counted: number }>(
        'SELECT status, created_at, updated_at, seq, counted FROM tasks WHERE id = ?',
        id,
      )
      .toArray()[0];
    if (!r) return null;
    return {
      id,
      status: r.status,
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
      seq: Number(r.seq),
      counted: Number(r.counted) === 1,
    };
  }

  /**
   * Record a task's latest state; ignored when a newer report is already stored. `counted`: a new
   * row that is its task's count against the quota of the day it was created (intake; tenant-usage.ts).
   */
  upsert(entry: TaskIndexEntry, counted = false): void {
    const before = this.stored(entry.id);
    if (before && entry.seq < before.seq) return;
    if (before) {
      // label, source, ops and created_at never change after the first report
      this.sql.exec(
        'UPDATE tasks SET status = ?, progress = ?, message = ?, attempt = ?, seq = ?, updated_at = ? WHERE id = ?',
        entry.status,
        entry.progress,
        entry.message.slice(0, MAX_TEXT_CHARS),
        entry.attempt,
        entry.seq,
        entry.updatedAt,
        entry.id,
      );
    } else {
      this.sql.exec(
        `INSERT INTO tasks (id, status, label, source, ops, progress, message, attempt, seq, created_at, updated_at, counted)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        entry.id,
        entry.status,
        entry.label,
        entry.source.slice(0, MAX_TEXT_CHARS),
        entry.ops,
        entry.progress,
        entry.message.slice(0, MAX_TEXT_CHARS),
        entry.attempt,
        entry.seq,
        entry.createdAt,
        entry.updatedAt,
        counted ? 1 : 0,
      );
    }
    this.tallyCopy?.apply(before, {
      id: entry.id,
      status: entry.status,
      createdAt: before?.createdAt ?? entry.createdAt,
      updatedAt: entry.updatedAt,
    });
  }

  /** When the task was created, if the index has it. */
  createdAt(id: string): number | null {
    const row = this.sql.exec<{ created_at: number }>('SELECT created_at FROM tasks WHERE id = ?', id).toArray()[0];
    return row ? Number(row.created_at) : null;
  }

  /** A queued row's move to running when its task took the slot it was handed (seq + 1: its running event). */
  markRunning(id: string, now: number): void {
    const before = this.stored(id);
    if (before?.status !== 'queued') return;
    this.sql.exec(
      "UPDATE tasks SET status = 'running', message = 'starting', seq = seq + 1, updated_at = ? WHERE id = ?",
      now,
      id,
    );
    this.tallyCopy?.apply(before, { ...before, status: 'running', updatedAt: now });
  }

  /**
   * Inside the hand-off's transaction: a waiting task taken in by intake is handed its slot by its
   * row (tenant-slots.ts): `handed_at`, and a queued row's move to running (seq + 1: its running
   * event), as a grant at intake writes it. False when the task has no row (the lane row is written then).
   */
  handed(id: string, now: number): boolean {
    const before = this.stored(id);
    if (!before) return false;
    if (before.status !== 'queued') {
      this.sql.exec('UPDATE tasks SET handed_at = ? WHERE id = ?', now, id);
      return true;
    }
    this.sql.exec(
      "UPDATE tasks SET status = 'running', message = 'starting', seq = seq + 1, updated_at = ?, handed_at = ? WHERE id = ?",
      now,
      now,
      id,
    );
    this.tallyCopy?.apply(before, { ...before, status: 'running', updatedAt: now });
    return true;
  }

  /** A task joins the line again: an earlier hand-off no longer says it holds a slot (no row written if none). */
  clearHanded(id: string): void {
    this.sql.exec('UPDATE tasks SET handed_at = NULL WHERE id = ? AND handed_at IS NOT NULL', id);
  }

  /** Remove a task's row; returns when it was created and whether it was its quota count (null: none). */
  remove(id: string): { createdAt: number; counted: boolean } | null {
    const before = this.stored(id);
    if (!before) return null;
    this.sql.exec('DELETE FROM tasks WHERE id = ?', id);
    this.tallyCopy?.apply(before, null);
    return { createdAt: before.createdAt, counted: before.counted };
  }

  /** Each slot holder with what the index last heard of it (null: nothing), for the reclaim of slots. */
  holderReports(): { taskId: string; status: TaskStatus | null; updatedAt: number | null }[] {
    return this.sql
      .exec<{ task_id: string; status: TaskStatus | null; updated_at: number | null }>(
        "SELECT l.task_id, t.status, t.updated_at FROM lane l LEFT JOIN tasks t ON t.id = l.task_id WHERE l.state = 'holding' OR t.handed_at IS NOT NULL",
      )
      .toArray()
      .map((r) => ({
        taskId: r.task_id,
        status: r.status,
        updatedAt: r.updated_at === null ? null : Number(r.updated_at),
      }));
  }

  /** Newest first, optionally by status or a substring of the source URL / label. */
  list(query: TaskListQuery): { tasks: TaskIndexEntry[]; cursor: string | null } {
    const limit = Math.min(Math.max(Math.floor(query.limit ?? 50), 1), 200);
    const status = query.status && (TASK_STATUSES as readonly string[]).includes(query.status) ? query.status : null;
    const c = query.cursor ? /^(\d{1,15})_([a-z2-7]{20})$/.exec(query.cursor) : null;
    const after = c ? { createdAt: Number(c[1]), id: c[2]! } : null;
    const rows =
      status && !isTerminal(status)
        ? this.activePage(status, query.q, after, limit + 1)
        : this.page(query, status, after, limit + 1);
    const tasks = rows.slice(0, limit).map(toEntry);
    const last = tasks.at(-1);
    return { tasks, cursor: rows.length > limit && last ? `${last.createdAt}_${last.id}` : null };
  }

  /** A page read newest first through the indexes (every filter but an active status). */
  private page(
    query: TaskListQuery,
    status: TaskStatus | null,
    after: { createdAt: number; id: string } | null,
    n: number,
  ): Row[] {
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    if (status) {
      where.push('status = ?');
      args.push(status);
      // failed and canceled rows are read through their own index (whose WHERE this repeats)
      if (status === 'failed' || status === 'canceled') where.push(ENDED_BADLY);
    }
    if (query.q) {
      where.push(TEXT_MATCH);
      args.push(query.q, query.q);
    }
    if (after) {
      where.push('(created_at < ? OR (created_at = ? AND id < ?))');
      args.push(after.createdAt, after.createdAt, after.id);
    }
    const sql = `SELECT * FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY created_at DESC, id DESC LIMIT ?`;
    return this.sql.exec<Row>(sql, ...args, n).toArray();
  }

  /** A page of an active status: the tally names the rows in order, each read by its key. */
  private activePage(
    status: TaskStatus,
    q: string | undefined,
    after: { createdAt: number; id: string } | null,
    n: number,
  ): Row[] {
    const out: Row[] = [];
    const read = q ? `SELECT * FROM tasks WHERE id = ? AND ${TEXT_MATCH}` : 'SELECT * FROM tasks WHERE id = ?';
    for (const id of this.tally.activeIds(status, after)) {
      const row = this.sql.exec<Row>(read, id, ...(q ? [q, q] : [])).toArray()[0];
      if (row) out.push(row);
      if (out.length >= n) break;
    }
    return out;
  }

  /** Tasks by status, and running tasks whose last report is older than `stallMs`. */
  counts(stallMs: number, now: number): Record<TaskStatus | 'stalled', number> {
    return this.tally.counts(stallMs, now);
  }
}
