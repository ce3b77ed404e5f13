/**
 * A tenant's concurrency slots and its line of waiting tasks, in the TenantObject's SQLite (table
 * `lane`: one row per task that holds a slot or waits for one) with a write-through copy in memory,
 * so counting free slots, asking whether a task holds one or waits, the line's length and its head
 * cost no query. The copy is loaded when the object wakes and dropped (reloaded on next use) whenever
 * a transaction that wrote through it fails.
 *
 * A task's row is written when it joins the line or takes a slot, changes state once when a waiting
 * task is handed a slot, and is deleted when the task gives the slot back (migration 7: one row that
 * changes state, instead of a row deleted in one table and inserted in another). The line's order is
 * the copy's: first come first served, rebuilt from each row's `since` when the object wakes.
 *
 * A slot handed to the head of the line is "unacknowledged" until the task says it took it; such
 * slots are the ones whose holder's index row still says `queued` (the acknowledgement is the index
 * row's move to `running`), so they survive a restart without a row of their own.
 *
 * A task taken in by intake (TenantObject.intake) has its create init in its lane row (`init`, JSON),
 * written by the same INSERT that gives it a slot or a place in line and gone with the row: its object
 * is made from it by the hand-off or by the first look (task-intake.ts). A holder with an init counts
 * as unacknowledged when the object wakes (the hand-off may never have arrived; a resent grant to a
 * task that has it costs one call and no row), so no row is written to acknowledge it.
 *
 * Such a task handed a slot from the line keeps its lane row as it was ('waiting'): the hand-off
 * writes its list row instead (running, with `handed_at`, tenant-index.ts), one row where the lane
 * row's change and the acknowledgement's were two (migration 9). When the object wakes, a waiting
 * lane row whose task's list row has `handed_at` is a holder since then; a task that joins the line
 * again has it cleared first (TenantObject.grantOrQueue), so it never names an older hand-off.
 *
 * Synchronous, no RPC: the TenantObject decides when to call tasks. Used only by TenantObject.
 */

interface Copy {
  /** holder -> when it got the slot */
  holders: Map<string, number>;
  /** waiting task -> when it joined the line, in the line's order (a Map keeps insertion order) */
  waiting: Map<string, number>;
  /** holders handed a slot that have not yet said they took it */
  unacked: Set<string>;
  /** tasks whose lane row keeps a create init (taken in by intake) */
  withInit: Set<string>;
  /** the latest `since` in the line (a newcomer's is never lower) */
  lastSince: number;
}

/** A lane row as the copy is loaded from it, with its task's hand-off from its list row. */
interface LaneRow extends Record<string, SqlStorageValue> {
  task_id: string;
  state: string;
  since: number;
  has_init: number;
  handed_at: number | null;
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
    const line: { id: string; since: number }[] = [];
    const withInit = new Set<string>();
    for (const r of this.sql.exec<LaneRow>(
      'SELECT l.task_id, l.state, l.since, l.init IS NOT NULL AS has_init, t.handed_at FROM lane l LEFT JOIN tasks t ON t.id = l.task_id',
    )) {
      if (Number(r.has_init) === 1) withInit.add(r.task_id);
      if (r.state === 'holding') holders.set(r.task_id, Number(r.since));
      else if (r.handed_at !== null) holders.set(r.task_id, Number(r.handed_at));
      else line.push({ id: r.task_id, since: Number(r.since) });
    }
    line.sort((a, b) => a.since - b.since || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const waiting = new Map(line.map((w) => [w.id, w.since] as const));
    const unacked = new Set<string>();
    for (const r of this.sql.exec<{ task_id: string }>(
      "SELECT l.task_id FROM lane l JOIN tasks t ON t.id = l.task_id WHERE l.state = 'holding' AND t.status = 'queued'",
    )) {
      unacked.add(r.task_id);
    }
    for (const id of withInit) if (holders.has(id)) unacked.add(id);
    this.copy = { holders, waiting, unacked, withInit, lastSince: line.at(-1)?.since ?? 0 };
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

  /** Does the task's lane row keep a create init (taken in by intake)? */
  hasInit(taskId: string): boolean {
    return this.c.withInit.has(taskId);
  }

  /** The create init kept for a task taken in by intake (JSON), or null. */
  initOf(taskId: string): string | null {
    const c = this.c;
    if (!c.holders.has(taskId) && !c.waiting.has(taskId)) return null;
    const r = this.sql.exec<{ init: string | null }>('SELECT init FROM lane WHERE task_id = ?', taskId).toArray()[0];
    return r?.init ?? null;
  }

  /**
   * Give `taskId` a slot (leaving the line if it was in it). `handed`: not yet acknowledged. `init`:
   * a new row's create init (intake). `inListRow`: a waiting task's hand-off is written in its list
   * row (`handed_at`), and its lane row stays as it is.
   */
  take(taskId: string, now: number, handed: boolean, init: string | null = null, inListRow = false): void {
    const c = this.c;
    if (c.waiting.delete(taskId)) {
      if (!inListRow) this.sql.exec("UPDATE lane SET state = 'holding', since = ? WHERE task_id = ?", now, taskId);
      c.holders.set(taskId, now);
    } else if (!c.holders.has(taskId)) {
      this.sql.exec(
        "INSERT OR IGNORE INTO lane (task_id, state, since, init) VALUES (?, 'holding', ?, ?)",
        taskId,
        now,
        init,
      );
      c.holders.set(taskId, now);
      if (init !== null) c.withInit.add(taskId);
    }
    if (handed) c.unacked.add(taskId);
  }

  /** The task said it took its slot. */
  acknowledged(taskId: string): void {
    this.c.unacked.delete(taskId);
  }

  /**
   * Put `taskId` at the end of the line (a no-op when it already waits or holds a slot), with its
   * create init when intake took it in. Its `since`
   * never goes below the last one's, so the order rebuilt when the object wakes is the order of arrival.
   */
  join(taskId: string, now: number, init: string | null = null): void {
    const c = this.c;
    if (c.waiting.has(taskId) || c.holders.has(taskId)) return;
    const since = Math.max(now, c.lastSince);
    this.sql.exec(
      "INSERT OR IGNORE INTO lane (task_id, state, since, init) VALUES (?, 'waiting', ?, ?)",
      taskId,
      since,
      init,
    );
    c.waiting.set(taskId, since);
    if (init !== null) c.withInit.add(taskId);
    c.lastSince = since;
  }

  /** Take `taskId`'s slot away and its place in line. Returns whether it held a slot. */
  drop(taskId: string): boolean {
    const c = this.c;
    c.unacked.delete(taskId);
    c.withInit.delete(taskId);
    const held = c.holders.delete(taskId);
    if (held || c.waiting.delete(taskId)) this.sql.exec('DELETE FROM lane WHERE task_id = ?', taskId);
    return held;
  }

  /** The first `n` tasks in line, first come first served. */
  heads(n: number): string[] {
    const out: string[] = [];
    if (n <= 0) return out;
    for (const id of this.c.waiting.keys()) {
      out.push(id);
      if (out.length >= n) break;
    }
    return out;
  }

  /** Holders in the order they got their slots, and the line in order. */
  state(): { running: string[]; waiting: string[] } {
    const running = [...this.c.holders.entries()].sort((a, b) => a[1] - b[1]).map(([id]) => id);
    return { running, waiting: this.heads(this.c.waiting.size) };
  }
}
