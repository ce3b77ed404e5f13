/**
 * A tenant's daily usage: tasks created and output bytes stored per UTC day, in the TenantObject's
 * SQLite (tables `usage` and `admitted`, created by its migrations). Used only by TenantObject.
 *
 * `admitted` remembers which task ids were counted, so a replayed create (same Idempotency-Key, same
 * task id) is never counted twice and a create that failed can be given back.
 */
import { type Admission, admit, DAY_MS, type DailyLimits, type DailyUsage, dayKey } from '../lib/quota.ts';

/** Usage rows (and admitted ids) are kept this many days. */
const USAGE_KEEP_DAYS = 7;

export class TenantUsage {
  private readonly storage: DurableObjectStorage;
  /** the day this instance last pruned old rows: pruning is once a day per instance, not per admit */
  private prunedDay: string | null = null;

  constructor(storage: DurableObjectStorage) {
    this.storage = storage;
  }

  usage(nowMs: number): DailyUsage {
    const day = dayKey(nowMs);
    const row = this.storage.sql
      .exec<{ tasks: number; output_bytes: number }>('SELECT tasks, output_bytes FROM usage WHERE day = ?', day)
      .toArray()[0];
    return { day, tasks: Number(row?.tasks ?? 0), outputBytes: Number(row?.output_bytes ?? 0) };
  }

  admit(taskId: string, limits: DailyLimits, nowMs: number): Admission {
    const sql = this.storage.sql;
    if (sql.exec('SELECT 1 FROM admitted WHERE task_id = ?', taskId).toArray().length > 0)
      return { ok: true, counted: false };
    const usage = this.usage(nowMs);
    const verdict = admit(usage, limits, nowMs);
    if (!verdict.ok) return verdict;
    this.storage.transactionSync(() => {
      sql.exec('INSERT INTO admitted (task_id, day) VALUES (?, ?)', taskId, usage.day);
      sql.exec(
        'INSERT INTO usage (day, tasks) VALUES (?, 1) ON CONFLICT (day) DO UPDATE SET tasks = tasks + 1',
        usage.day,
      );
      if (this.prunedDay !== usage.day) {
        const old = dayKey(nowMs - USAGE_KEEP_DAYS * DAY_MS);
        sql.exec('DELETE FROM usage WHERE day < ?', old);
        sql.exec('DELETE FROM admitted WHERE day < ?', old);
      }
    });
    this.prunedDay = usage.day;
    return { ok: true, counted: true };
  }

  unadmit(taskId: string): void {
    const sql = this.storage.sql;
    const row = sql.exec<{ day: string }>('SELECT day FROM admitted WHERE task_id = ?', taskId).toArray()[0];
    if (!row) return;
    this.storage.transactionSync(() => {
      sql.exec('DELETE FROM admitted WHERE task_id = ?', taskId);
      sql.exec('UPDATE usage SET tasks = MAX(tasks - 1, 0) WHERE day = ?', row.day);
    });
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
