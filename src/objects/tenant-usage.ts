/**
 * A tenant's daily usage: tasks created and output bytes stored per UTC day, in the TenantObject's
 * SQLite (tables `usage` and `admitted`, created by its migrations). Used only by TenantObject.
 *
 * A task that enters through TenantObject.enter is admitted by its index row (the same transaction
 * counts it and writes the row), so it writes no `admitted` row. `admitted` remembers the ids counted
 * ahead of their tasks (a batch's children, admitted whole before the batch creates them, and
 * `admit` for callers that count first), so a replayed create is never counted twice and a create
 * that failed can be given back.
 *
 * Both tables are keyed by their primary keys only (WITHOUT ROWID, migration 7) and `admitted` has no
 * other index (it is pruned by a scan, once a day per instance), so each admission is one row written.
 *
 * A task taken in by intake (TenantObject.intake) is counted by its own list row instead (`counted` 1
 * in `tasks`, migration 9), which that transaction writes anyway: the day's count is the `usage` row
 * plus the counted list rows created that day. That sum is read once per day (a range of the
 * newest-first index) and then kept in memory, told of every counted row written or removed; a
 * transaction that fails drops it. A counted row that is deleted (`forget`) moves its count into the
 * `usage` row, so deleting a task never gives its quota back, as before.
 *
 * Its writes go in the caller's transaction: every caller (TenantObject) wraps them in one.
 */
import { type Admission, admit, DAY_MS, type DailyLimits, type DailyUsage, dayKey } from '../lib/quota.ts';

/** Usage rows (and admitted ids) are kept this many days. */
const USAGE_KEEP_DAYS = 7;

export class TenantUsage {
  private readonly storage: DurableObjectStorage;
  /** the day this instance last pruned old rows: pruning is once a day per instance, not per admit */
  private prunedDay: string | null = null;
  /** how many counted list rows were created on `day` (null: not read since the object woke) */
  private listed: { day: string; n: number } | null = null;

  constructor(storage: DurableObjectStorage) {
    this.storage = storage;
  }

  usage(nowMs: number): DailyUsage {
    const day = dayKey(nowMs);
    const row = this.storage.sql
      .exec<{ tasks: number; output_bytes: number }>('SELECT tasks, output_bytes FROM usage WHERE day = ?', day)
      .toArray()[0];
    return { day, tasks: Number(row?.tasks ?? 0) + this.listedOn(nowMs), outputBytes: Number(row?.output_bytes ?? 0) };
  }

  /** The counted list rows created on the UTC day of `nowMs` (kept in memory for the latest day read). */
  private listedOn(nowMs: number): number {
    const day = dayKey(nowMs);
    if (this.listed?.day === day) return this.listed.n;
    const start = Math.floor(nowMs / DAY_MS) * DAY_MS;
    const n = Number(
      this.storage.sql
        .exec<{ n: number }>(
          'SELECT COUNT(*) AS n FROM tasks WHERE created_at >= ? AND created_at < ? AND counted = 1',
          start,
          start + DAY_MS,
        )
        .one().n,
    );
    this.listed = { day, n };
    return n;
  }

  /** A counted list row created at `createdAt` was written (+1) or removed (-1), in the caller's transaction. */
  rowCounted(createdAt: number, delta: 1 | -1): void {
    if (this.listed?.day === dayKey(createdAt)) this.listed.n += delta;
  }

  /** A counted list row is being removed (the task deleted): its day keeps the count, in `usage`. */
  keepCount(createdAt: number): void {
    this.storage.sql.exec(
      'INSERT INTO usage (day, tasks) VALUES (?, 1) ON CONFLICT (day) DO UPDATE SET tasks = tasks + 1',
      dayKey(createdAt),
    );
    this.rowCounted(createdAt, -1);
  }

  /** Forget the in-memory count (a transaction that wrote through it rolled back). */
  invalidate(): void {
    this.listed = null;
  }

  /** Was this id counted ahead of its task (an `admitted` row)? */
  wasAdmitted(taskId: string): boolean {
    return this.storage.sql.exec('SELECT 1 FROM admitted WHERE task_id = ?', taskId).toArray().length > 0;
  }

  admit(taskId: string, limits: DailyLimits, nowMs: number): Admission {
    const { fresh: _, ...verdict } = this.admitAll([taskId], limits, nowMs);
    return verdict;
  }

  /**
   * Count every id not yet admitted against today's quota, all or none, remembering each in
   * `admitted`.
   */
  admitAll(taskIds: readonly string[], limits: DailyLimits, nowMs: number): Admission & { fresh: string[] } {
    const fresh = [...new Set(taskIds)].filter((id) => !this.wasAdmitted(id));
    if (fresh.length === 0) return { ok: true, counted: false, fresh };
    const verdict = this.count(limits, nowMs, fresh.length);
    if (!verdict.ok) return { ...verdict, fresh: [] };
    const day = dayKey(nowMs);
    for (const id of fresh) this.storage.sql.exec('INSERT INTO admitted (task_id, day) VALUES (?, ?)', id, day);
    return { ...verdict, fresh };
  }

  /**
   * Count `n` tasks against today's quota (no `admitted` rows), or refuse them all. `byRow`: the
   * caller writes the one task's counted list row (created at `nowMs`) in this transaction, which is
   * its count; nothing is written here for it.
   */
  count(limits: DailyLimits, nowMs: number, n = 1, byRow = false): Admission {
    const sql = this.storage.sql;
    const usage = this.usage(nowMs);
    const verdict = admit(usage, limits, nowMs, n);
    if (!verdict.ok) return verdict;
    if (!byRow) {
      sql.exec(
        'INSERT INTO usage (day, tasks) VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET tasks = tasks + excluded.tasks',
        usage.day,
        n,
      );
    }
    if (this.prunedDay !== usage.day) {
      const old = dayKey(nowMs - USAGE_KEEP_DAYS * DAY_MS);
      sql.exec('DELETE FROM usage WHERE day < ?', old);
      sql.exec('DELETE FROM admitted WHERE day < ?', old);
    }
    this.prunedDay = usage.day;
    return { ok: true, counted: true };
  }

  /** Give back one task counted on the UTC day of `nowMs` (its create failed). */
  uncount(nowMs: number): void {
    this.storage.sql.exec('UPDATE usage SET tasks = MAX(tasks - 1, 0) WHERE day = ?', dayKey(nowMs));
  }

  /** Give back an id counted ahead of its task; returns whether there was one. */
  unadmit(taskId: string): boolean {
    const sql = this.storage.sql;
    const row = sql.exec<{ day: string }>('SELECT day FROM admitted WHERE task_id = ?', taskId).toArray()[0];
    if (!row) return false;
    sql.exec('DELETE FROM admitted WHERE task_id = ?', taskId);
    sql.exec('UPDATE usage SET tasks = MAX(tasks - 1, 0) WHERE day = ?', row.day);
    return true;
  }

  addOutputBytes(bytes: number, nowMs: number): void {
    if (!Number.isFinite(bytes) || bytes <= 0) return;
    this.storage.sql.exec(
      `INSERT INTO usage (day, output_bytes) VALUES (?, ?)
       ON CONFLICT (day) DO UPDATE SET output_bytes = output_bytes + excluded.output_bytes`,
      dayKey(nowMs),
      Math.floor(bytes),
    );
  }
}
