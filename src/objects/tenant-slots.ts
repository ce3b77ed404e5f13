/**
 * A tenant's concurrency slots and its line of waiting tasks, in the TenantObject's SQLite (tables
 * `slots` and `waiting`) with a write-through copy in memory, so counting free slots, asking whether a
 * task holds one or waits, and the line's length cost no query. The copy is loaded when the object
 * wakes and dropped (reloaded on next use) whenever a transaction that wrote through it fails.
 *
 * The tables are keyed by their primary keys only (WITHOUT ROWID, migration 6), so a slot taken or
 * a place in line is one row written; the line's key is its order, and where a task stands in it
 * comes from the copy.
 *
 * A slot handed to the head of the line is "unacknowledged" until the task says it took it; such
 * slots are the ones whose holder's index row still says `queued` (the acknowledgement is the index
 * row's move to `running`), so they survive a restart without a row of their own.
 *
 * Synchronous, no RPC: the TenantObject decides when to call tasks. Used only by TenantObject.
 */

interface Copy {
  /** holder -> when it got the slot */
  holders: Map<string, number>;
  /** waiting task -> when it joined the line */
  waiting: Map<string, number>;
  /** holders handed a slot that have not yet said they took it */
  unacked: Set<string>;
}

export class TenantSlots {
  private readonly sql: SqlStorage;
  private copy: Copy | null = null;

  constructor(sql: SqlStorage) {
    this.sql = sql;
  }

  private get c(): Copy {
    if (this.copy) return this.copy;
    const holders = new Map<string, number>();
    for (const r of this.sql.exec<{ task_id: string; acquired_at: number }>('SELECT task_id, acquired_at FROM slots')) {
      holders.set(r.task_id, Number(r.acquired_at));
    }
    const waiting = new Map<string, number>();
    for (const r of this.sql.exec<{ task_id: string; enqueued_at: number }>(
      'SELECT task_id, enqueued_at FROM waiting',
    )) {
      waiting.set(r.task_id, Number(r.enqueued_at));
    }
    const unacked = new Set<string>();
    for (const r of this.sql.exec<{ task_id: string }>(
      "SELECT s.task_id FROM slots s JOIN tasks t ON t.id = s.task_id WHERE t.status = 'queued'",
    )) {
      unacked.add(r.task_id);
    }
    this.copy = { holders, waiting, unacked };
    return this.copy;
  }

  /** Forget the in-memory copy (a transaction that wrote through it rolled back). */
  invalidate(): void {
    this.copy = null;
  }

  holds(taskId: string): boolean {
    return this.c.holders.has(taskId);
  }

  waits(taskId: string): boolean {
    return this.c.waiting.has(taskId);
  }

  used(): number {
    return this.c.holders.size;
  }

  lineLength(): number {
    return this.c.waiting.size;
  }

  holderIds(): string[] {
    return [...this.c.holders.keys()];
  }

  /** When each unacknowledged grant was made. */
  unacknowledged(): { taskId: string; grantedAt: number }[] {
    const c = this.c;
    return [...c.unacked].map((taskId) => ({ taskId, grantedAt: c.holders.get(taskId) ?? 0 }));
  }

  isUnacknowledged(taskId: string): boolean {
    return this.c.unacked.has(taskId);
  }

  /** Give `taskId` a slot (leaving the line if it was in it). `handed`: not yet acknowledged. */
  take(taskId: string, now: number, handed: boolean): void {
    const c = this.c;
    this.leaveLine(taskId);
    if (!c.holders.has(taskId)) {
      this.sql.exec('INSERT OR IGNORE INTO slots (task_id, acquired_at) VALUES (?, ?)', taskId, now);
      c.holders.set(taskId, now);
    }
    if (handed) c.unacked.add(taskId);
  }

  /** The task said it took its slot. */
  acknowledged(taskId: string): void {
    this.c.unacked.delete(taskId);
  }

  /** Put `taskId` at the end of the line (a no-op when it already waits or holds a slot). */
  join(taskId: string, now: number): void {
    const c = this.c;
    if (c.waiting.has(taskId) || c.holders.has(taskId)) return;
    this.sql.exec('INSERT OR IGNORE INTO waiting (enqueued_at, task_id) VALUES (?, ?)', now, taskId);
    c.waiting.set(taskId, now);
  }

  /** The line is keyed by its order, (enqueued_at, task_id): the copy knows where a task stands. */
  private leaveLine(taskId: string): void {
    const at = this.c.waiting.get(taskId);
    if (at === undefined) return;
    this.sql.exec('DELETE FROM waiting WHERE enqueued_at = ? AND task_id = ?', at, taskId);
    this.c.waiting.delete(taskId);
  }

  /** Take `taskId`'s slot away and its place in line. Returns whether it held a slot. */
  drop(taskId: string): boolean {
    const c = this.c;
    this.leaveLine(taskId);
    c.unacked.delete(taskId);
    if (!c.holders.delete(taskId)) return false;
    this.sql.exec('DELETE FROM slots WHERE task_id = ?', taskId);
    return true;
  }

  /** The first `n` tasks in line, first come first served (the line's key is its order). */
  heads(n: number): string[] {
    if (n <= 0 || this.c.waiting.size === 0) return [];
    return this.sql
      .exec<{ task_id: string }>('SELECT task_id FROM waiting ORDER BY enqueued_at, task_id LIMIT ?', n)
      .toArray()
      .map((r) => r.task_id);
  }

  /** Holders in the order they got their slots, and the line in order. */
  state(): { running: string[]; waiting: string[] } {
    const running = [...this.c.holders.entries()].sort((a, b) => a[1] - b[1]).map(([id]) => id);
    return { running, waiting: this.heads(this.c.waiting.size) };
  }
}
