/**
 * A tenant's task index (table `tasks` in the TenantObject's SQLite): one row per task, for
 * GET /api/tasks and the counts in /api/health. The task objects are the truth; each row carries
 * its task's event seq, so a late report never overwrites a newer one. Used only by TenantObject.
 */
import { TASK_STATUSES, type TaskListEntry, type TaskStatus } from '../protocol/task.ts';

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

export class TenantIndex {
  private readonly sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.sql = sql;
  }

  /** Record a task's latest state; ignored when a newer report is already stored. */
  upsert(entry: TaskIndexEntry): void {
    this.sql.exec(
      `INSERT INTO tasks (id, status, label, source, ops, progress, message, attempt, seq, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, progress = excluded.progress,
         message = excluded.message, attempt = excluded.attempt, seq = excluded.seq, updated_at = excluded.updated_at
       WHERE excluded.seq >= tasks.seq`,
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
    );
  }

  /** When the task was created, if the index has it. */
  createdAt(id: string): number | null {
    const row = this.sql.exec<{ created_at: number }>('SELECT created_at FROM tasks WHERE id = ?', id).toArray()[0];
    return row ? Number(row.created_at) : null;
  }

  /** A queued row's move to running when its task took the slot it was handed (seq + 1: its running event). */
  markRunning(id: string, now: number): void {
    this.sql.exec(
      "UPDATE tasks SET status = 'running', message = 'starting', seq = seq + 1, updated_at = ? WHERE id = ? AND status = 'queued'",
      now,
      id,
    );
  }

  remove(id: string): void {
    this.sql.exec('DELETE FROM tasks WHERE id = ?', id);
  }

  /** Each slot holder with what the index last heard of it (null: nothing), for the reclaim of slots. */
  holderReports(): { taskId: string; status: TaskStatus | null; updatedAt: number | null }[] {
    return this.sql
      .exec<{ task_id: string; status: TaskStatus | null; updated_at: number | null }>(
        'SELECT s.task_id, t.status, t.updated_at FROM slots s LEFT JOIN tasks t ON t.id = s.task_id',
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
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    if (query.status && (TASK_STATUSES as readonly string[]).includes(query.status)) {
      where.push('status = ?');
      args.push(query.status);
    }
    if (query.q) {
      where.push("(instr(lower(source), lower(?)) > 0 OR instr(lower(coalesce(label, '')), lower(?)) > 0)");
      args.push(query.q, query.q);
    }
    const cursor = query.cursor ? /^(\d{1,15})_([a-z2-7]{20})$/.exec(query.cursor) : null;
    if (cursor) {
      where.push('(created_at < ? OR (created_at = ? AND id < ?))');
      args.push(Number(cursor[1]), Number(cursor[1]), cursor[2]!);
    }
    const sql = `SELECT * FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY created_at DESC, id DESC LIMIT ?`;
    const rows = this.sql.exec<Row>(sql, ...args, limit + 1).toArray();
    const tasks = rows.slice(0, limit).map(toEntry);
    const last = tasks.at(-1);
    return { tasks, cursor: rows.length > limit && last ? `${last.createdAt}_${last.id}` : null };
  }

  /** Tasks by status, and running tasks whose last report is older than `stallMs`. */
  counts(stallMs: number, now: number): Record<TaskStatus | 'stalled', number> {
    const out = Object.fromEntries([...TASK_STATUSES, 'stalled'].map((s) => [s, 0])) as Record<
      TaskStatus | 'stalled',
      number
    >;
    for (const r of this.sql.exec<{ status: TaskStatus; n: number }>(
      'SELECT status, COUNT(*) AS n FROM tasks GROUP BY status',
    )) {
      out[r.status] = Number(r.n);
    }
    out.stalled = Number(
      this.sql
        .exec<{ n: number }>(
          "SELECT COUNT(*) AS n FROM tasks WHERE status = 'running' AND updated_at < ?",
          now - stallMs,
        )
        .one().n,
    );
    return out;
  }
}
