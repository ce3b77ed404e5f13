/**
 * TenantObject: one per tenant (API key, or `local`).
 *
 * What it owns (the only copy, the source of truth):
 * - the tenant's concurrency slots and the line of tasks waiting for one, first come first served;
 * - the daily quotas: tasks admitted and output bytes stored per UTC day, and which ids were admitted.
 *
 * What it keeps but does not own: the task index (one row per task, for GET /api/tasks and the
 * counts in /api/health). Each task object is the truth about its task; it tells the index on
 * create, on every status change (the row carries the task's event seq, so a late report never
 * overwrites a newer one) and, while running, every half stall timeout; never per progress tick.
 * The index may lag a task by one report.
 *
 * What it never holds: a task's progress stream, events, steps or outputs, and nothing waits on it
 * to answer a task's subscribers.
 *
 * Slots: a task asks for one (`acquire`) before it runs and gives it back when it ends (`finish`,
 * with its last index row, in one call). A task that finds none free joins the line. A freed slot is
 * handed to the head of the line inside the same transaction, and only that task is called
 * (`slotGranted`); its own 30 s recheck alarm is the safety net for a lost call. A slot whose holder
 * crashed, was deleted or ended without saying so is reclaimed by asking the holder before anyone waits.
 *
 * Quotas: the Worker asks `admit` before creating a task (an id already admitted is free, so an
 * Idempotency-Key replay never counts twice); task objects add their outputs' sizes as they store them.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Admission, DailyLimits, DailyUsage } from '../lib/quota.ts';
import { TASK_STATUSES, type TaskListEntry, type TaskStatus } from '../protocol/task.ts';
import { taskConfig } from './config.ts';
import { applyMigrations } from './migrations.ts';
import { TenantUsage } from './tenant-usage.ts';

/** What a task object reports here (the same shape GET /api/tasks lists). */
export type TaskIndexEntry = TaskListEntry;

export interface TaskListQuery {
  status?: TaskStatus | undefined;
  q?: string | undefined;
  limit?: number | undefined;
  /** opaque cursor from a previous page */
  cursor?: string | undefined;
}

/**
 * A slot holder whose last report is younger than this is taken at its word (running tasks report every
 * half stall timeout, 15 s by default); older or unknown holders are asked before their slot is kept.
 */
const HOLDER_FRESH_MS = 60_000;

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('queued','running','retrying','succeeded','failed','canceled')),
    label TEXT,
    source TEXT NOT NULL,
    ops TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    attempt INTEGER NOT NULL DEFAULT 1,
    seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX tasks_by_created ON tasks (created_at DESC, id DESC);
  CREATE INDEX tasks_by_status ON tasks (status, created_at DESC);
  `,
  `
  CREATE TABLE slots (task_id TEXT PRIMARY KEY, acquired_at INTEGER NOT NULL);
  CREATE TABLE waiting (task_id TEXT PRIMARY KEY, enqueued_at INTEGER NOT NULL);
  `,
  `
  CREATE TABLE usage (
    day TEXT PRIMARY KEY,
    tasks INTEGER NOT NULL DEFAULT 0 CHECK (tasks >= 0),
    output_bytes INTEGER NOT NULL DEFAULT 0 CHECK (output_bytes >= 0)
  );
  CREATE TABLE admitted (task_id TEXT PRIMARY KEY, day TEXT NOT NULL);
  `,
  // 4: the waiting line is read head first on every grant and hand-off: an index, not a sort of the line
  `
  CREATE INDEX waiting_in_order ON waiting (enqueued_at, task_id);
  CREATE INDEX admitted_by_day ON admitted (day);
  `,
];

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

export class TenantObject extends DurableObject<Env> {
  private readonly quota: TenantUsage;
  /** The concurrency limit, as the tenant's tasks last asked with it (they read it from the config). */
  private limit = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.quota = new TenantUsage(ctx.storage);
    ctx.blockConcurrencyWhile(async () => applyMigrations(ctx.storage, MIGRATIONS));
  }

  /** Record a task's latest state; ignored when a newer report is already stored. */
  async record(entry: TaskIndexEntry): Promise<void> {
    this.upsert(entry);
  }

  /** A task ended: record its last state and give its slot (or place in line) back, in one call. */
  async finish(entry: TaskIndexEntry): Promise<void> {
    const granted = this.ctx.storage.transactionSync(() => {
      this.upsert(entry);
      this.dropSlot(entry.id);
      return this.handOff(this.limitOf());
    });
    await this.tellGranted(granted);
  }

  private upsert(entry: TaskIndexEntry): void {
    this.ctx.storage.sql.exec(
      `INSERT INTO tasks (id, status, label, source, ops, progress, message, attempt, seq, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, progress = excluded.progress,
         message = excluded.message, attempt = excluded.attempt, seq = excluded.seq, updated_at = excluded.updated_at
       WHERE excluded.seq >= tasks.seq`,
      entry.id,
      entry.status,
      entry.label,
      entry.source.slice(0, 500),
      entry.ops,
      entry.progress,
      entry.message.slice(0, 500),
      entry.attempt,
      entry.seq,
      entry.createdAt,
      entry.updatedAt,
    );
  }

  /** Forget a deleted task (and any slot or place in line it had). */
  async forget(id: string): Promise<void> {
    this.ctx.storage.sql.exec('DELETE FROM tasks WHERE id = ?', id);
    await this.release(id);
  }

  /**
   * Take a concurrency slot for `taskId`, or join the line. Returns the grant, or how many tasks are
   * ahead in line. Calling it again while holding a slot is harmless. `ifGranted` is the task's index
   * row as it will be once it runs (its seq that of the running event); a grant records it in the same
   * transaction, so the task need not report that change separately, and a late report of the queued
   * state (a lower seq) cannot overwrite it.
   */
  async acquire(
    taskId: string,
    limit: number,
    ifGranted?: TaskIndexEntry,
  ): Promise<{ granted: true } | { granted: false; ahead: number }> {
    const sql = this.ctx.storage.sql;
    this.rememberLimit(limit);
    if (sql.exec('SELECT 1 FROM slots WHERE task_id = ?', taskId).toArray().length > 0) {
      if (ifGranted) this.upsert(ifGranted);
      return { granted: true };
    }
    if (this.freeSlots(limit) <= 0) await this.reclaim();
    const grant = (): boolean => {
      const free = this.freeSlots(limit);
      if (free <= 0) return false;
      // FIFO: only the first `free` tasks in line may take a slot; newcomers when fewer wait
      const ahead = sql
        .exec<{ task_id: string }>('SELECT task_id FROM waiting ORDER BY enqueued_at, task_id LIMIT ?', free)
        .toArray()
        .map((r) => r.task_id);
      if (!ahead.includes(taskId) && ahead.length >= free) return false;
      this.ctx.storage.transactionSync(() => {
        sql.exec('INSERT OR IGNORE INTO slots (task_id, acquired_at) VALUES (?, ?)', taskId, Date.now());
        sql.exec('DELETE FROM waiting WHERE task_id = ?', taskId);
        if (ifGranted) this.upsert(ifGranted);
      });
      return true;
    };
    if (grant()) return { granted: true };
    sql.exec('INSERT OR IGNORE INTO waiting (task_id, enqueued_at) VALUES (?, ?)', taskId, Date.now());
    // Slots the reclaim freed go to those ahead in line, not to this newcomer.
    await this.tellGranted(this.ctx.storage.transactionSync(() => this.handOff(limit)));
    const me = sql.exec<{ enqueued_at: number }>('SELECT enqueued_at FROM waiting WHERE task_id = ?', taskId).one();
    const ahead = Number(
      sql
        .exec<{ n: number }>(
          'SELECT COUNT(*) AS n FROM waiting WHERE enqueued_at < ? OR (enqueued_at = ? AND task_id < ?)',
          me.enqueued_at,
          me.enqueued_at,
          taskId,
        )
        .one().n,
    );
    return { granted: false, ahead };
  }

  /** Give a slot back (or leave the line); a freed slot goes to the head of the line. */
  async release(taskId: string): Promise<void> {
    const granted = this.ctx.storage.transactionSync(() => {
      this.dropSlot(taskId);
      return this.handOff(this.limitOf());
    });
    await this.tellGranted(granted);
  }

  private dropSlot(taskId: string): void {
    this.ctx.storage.sql.exec('DELETE FROM slots WHERE task_id = ?', taskId);
    this.ctx.storage.sql.exec('DELETE FROM waiting WHERE task_id = ?', taskId);
  }

  /** Slots held, and the line. */
  async slotState(): Promise<{ running: string[]; waiting: string[] }> {
    const sql = this.ctx.storage.sql;
    return {
      running: sql
        .exec<{ task_id: string }>('SELECT task_id FROM slots ORDER BY acquired_at')
        .toArray()
        .map((r) => r.task_id),
      waiting: sql
        .exec<{ task_id: string }>('SELECT task_id FROM waiting ORDER BY enqueued_at, task_id')
        .toArray()
        .map((r) => r.task_id),
    };
  }

  private freeSlots(limit: number): number {
    const used = Number(this.ctx.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM slots').one().n);
    return limit - used;
  }

  /**
   * Free the slots of holders that no longer need them. The index answers for most holders without a
   * call: a holder it shows ended gives its slot up at once, one that reported recently keeps it; only
   * holders the index knows nothing fresh about are asked (`needsSlot`). Asking every holder on every
   * full `acquire` cost one RPC per running task per waiting task (the benchmark's 1,000-task run spent
   * more time in those calls than in SQLite).
   */
  private async reclaim(): Promise<void> {
    const now = Date.now();
    const holders = this.ctx.storage.sql
      .exec<{ task_id: string; status: string | null; updated_at: number | null }>(
        'SELECT s.task_id, t.status, t.updated_at FROM slots s LEFT JOIN tasks t ON t.id = s.task_id',
      )
      .toArray();
    const ask: string[] = [];
    for (const h of holders) {
      if (h.status === 'succeeded' || h.status === 'failed' || h.status === 'canceled') {
        this.ctx.storage.sql.exec('DELETE FROM slots WHERE task_id = ?', h.task_id);
      } else if (h.status === null || h.updated_at === null || now - h.updated_at > HOLDER_FRESH_MS) {
        ask.push(h.task_id);
      }
    }
    await Promise.all(
      ask.map(async (taskId) => {
        const needs = await this.env.TASKS.getByName(taskId)
          .needsSlot()
          .catch(() => true);
        if (!needs) this.ctx.storage.sql.exec('DELETE FROM slots WHERE task_id = ?', taskId);
      }),
    );
  }

  /**
   * Inside the caller's transaction: give each free slot to the task at the head of the line, and
   * mark it running in the index (seq + 1: at most the seq of the running event the task then writes,
   * so the task's own later reports still win). Returns the ids to tell.
   */
  private handOff(limit: number): string[] {
    const sql = this.ctx.storage.sql;
    const free = this.freeSlots(limit);
    if (free <= 0) return [];
    const heads = sql
      .exec<{ task_id: string }>('SELECT task_id FROM waiting ORDER BY enqueued_at, task_id LIMIT ?', free)
      .toArray()
      .map((r) => r.task_id);
    const now = Date.now();
    for (const id of heads) {
      sql.exec('DELETE FROM waiting WHERE task_id = ?', id);
      sql.exec('INSERT OR IGNORE INTO slots (task_id, acquired_at) VALUES (?, ?)', id, now);
      sql.exec(
        "UPDATE tasks SET status = 'running', message = 'starting', seq = seq + 1, updated_at = ? WHERE id = ? AND status = 'queued'",
        now,
        id,
      );
    }
    return heads;
  }

  /**
   * One call to each task that got a slot, which starts it. A call that fails leaves the slot held:
   * the task's own recheck alarm asks again and finds it granted.
   */
  private async tellGranted(ids: readonly string[]): Promise<void> {
    await Promise.all(
      ids.map((id) =>
        this.env.TASKS.getByName(id)
          .slotGranted()
          .catch((err: unknown) =>
            console.warn(JSON.stringify({ level: 'warn', msg: 'slot hand-off failed', task: id, error: String(err) })),
          ),
      ),
    );
  }

  private rememberLimit(limit: number): void {
    this.limit = limit;
  }

  private limitOf(): number {
    return this.limit > 0 ? this.limit : taskConfig(this.env).maxConcurrentTasks;
  }

  // ---- daily quotas (see tenant-usage.ts) -------------------------------------------------------

  /** Today's usage (UTC). */
  async usage(nowMs: number = Date.now()): Promise<DailyUsage> {
    return this.quota.usage(nowMs);
  }

  /**
   * Count a new task against today's quota, or refuse it (quota.tasks / quota.output_bytes with the
   * seconds until the quota resets). A task id already admitted is admitted again for free.
   */
  async admit(taskId: string, limits: DailyLimits, nowMs: number = Date.now()): Promise<Admission> {
    return this.quota.admit(taskId, limits, nowMs);
  }

  /** Give back an admission whose task was never created (its create failed). */
  async unadmit(taskId: string): Promise<void> {
    this.quota.unadmit(taskId);
  }

  /** Count bytes a task stored as output today. */
  async addOutputBytes(bytes: number, nowMs: number = Date.now()): Promise<void> {
    this.quota.addOutputBytes(bytes, nowMs);
  }

  /** Newest first, optionally by status or a substring of the source URL / label. */
  async list(query: TaskListQuery): Promise<{ tasks: TaskIndexEntry[]; cursor: string | null }> {
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
    const rows = this.ctx.storage.sql.exec<Row>(sql, ...args, limit + 1).toArray();
    const tasks = rows.slice(0, limit).map(toEntry);
    const last = tasks.at(-1);
    return { tasks, cursor: rows.length > limit && last ? `${last.createdAt}_${last.id}` : null };
  }

  /** Tasks by status, and running tasks whose last report is older than `stallMs`. */
  async counts(stallMs: number): Promise<Record<TaskStatus | 'stalled', number>> {
    const out = Object.fromEntries([...TASK_STATUSES, 'stalled'].map((s) => [s, 0])) as Record<
      TaskStatus | 'stalled',
      number
    >;
    for (const r of this.ctx.storage.sql.exec<{ status: TaskStatus; n: number }>(
      'SELECT status, COUNT(*) AS n FROM tasks GROUP BY status',
    )) {
      out[r.status] = Number(r.n);
    }
    out.stalled = Number(
      this.ctx.storage.sql
        .exec<{ n: number }>(
          "SELECT COUNT(*) AS n FROM tasks WHERE status = 'running' AND updated_at < ?",
          Date.now() - stallMs,
        )
        .one().n,
    );
    return out;
  }
}
