/**
 * The tenant index's tally, in memory: how many of its rows are in each status, and its active rows
 * (queued, running, retrying) with when each was created and last reported. It answers /api/health's
 * counts (stalled included) without a pass over the index, and the list's filter by an active status
 * without an index on status (migration 7 dropped it: it was a row written at every status change).
 *
 * Rebuilt from the `tasks` table (one pass) the first time it is needed after the object wakes, then
 * kept by tenant-index.ts, the one module that writes the rows: every write there tells the tally
 * what the row was and what it became, inside the same transaction; a transaction that fails drops
 * the tally, to be rebuilt. Active rows are few (about the slots plus the line), terminal ones only
 * counted. Used only by tenant-index.ts.
 */
import { isTerminal } from '../lib/task-status.ts';
import { TASK_STATUSES, type TaskStatus } from '../protocol/task.ts';

/** What the tally needs of an index row. */
export interface TallyRow {
  id: string;
  status: TaskStatus;
  createdAt: number;
  updatedAt: number;
}

/** Newest first: created_at, then id, both descending (the list's order). */
function newestFirst(a: TallyRow, b: TallyRow): number {
  return b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

export class TenantTally {
  private readonly byStatus: Record<TaskStatus, number>;
  private readonly active = new Map<string, TallyRow>();

  private constructor(byStatus: Record<TaskStatus, number>) {
    this.byStatus = byStatus;
  }

  /** One pass over the index. */
  static load(sql: SqlStorage): TenantTally {
    const byStatus = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
    const tally = new TenantTally(byStatus);
    for (const r of sql.exec<{ id: string; status: TaskStatus; created_at: number; updated_at: number }>(
      'SELECT id, status, created_at, updated_at FROM tasks',
    )) {
      tally.add({ id: r.id, status: r.status, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) });
    }
    return tally;
  }

  /** A row was written: `before` is what it was (null: new), `after` what it is (null: deleted). */
  apply(before: TallyRow | null, after: TallyRow | null): void {
    if (before) {
      this.byStatus[before.status] = Math.max(0, this.byStatus[before.status] - 1);
      this.active.delete(before.id);
    }
    if (after) this.add(after);
  }

  private add(row: TallyRow): void {
    this.byStatus[row.status] = (this.byStatus[row.status] ?? 0) + 1;
    if (!isTerminal(row.status)) this.active.set(row.id, row);
  }

  /** Rows by status, and running rows whose last report is older than `stallMs`. */
  counts(stallMs: number, now: number): Record<TaskStatus | 'stalled', number> {
    let stalled = 0;
    for (const r of this.active.values()) if (r.status === 'running' && r.updatedAt < now - stallMs) stalled++;
    return { ...this.byStatus, stalled };
  }

  /**
   * The ids of the active rows in `status`, newest first, after the cursor's (createdAt, id) when
   * given. Only for an active status (terminal rows are not kept).
   */
  activeIds(status: TaskStatus, after: { createdAt: number; id: string } | null): string[] {
    const rows = [...this.active.values()].filter(
      (r) =>
        r.status === status &&
        (!after || r.createdAt < after.createdAt || (r.createdAt === after.createdAt && r.id < after.id)),
    );
    return rows.sort(newestFirst).map((r) => r.id);
  }
}
