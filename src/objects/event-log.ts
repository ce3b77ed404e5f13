/**
 * The numbered event log of one object (a task or a batch): append, replay after a seq, and keep it
 * bounded. One module for both logs, so they share one seq rule and one compaction rule.
 *
 * Both objects keep the log in a table `events (seq, at, kind, body)` and the last seq in the `seq`
 * column of their one state row (`task` or `batch`). An append bumps that counter and inserts the row
 * in the caller's transaction, so an event is durable exactly when the state it describes is; seq
 * numbers start at 1, have no gaps and are never reused.
 *
 * A task's log may also hold several consecutive events in one row, because each row written is
 * billed: the progress written by one flush (`insertMany`, objects written before migration 8), or
 * the task row's tail of events once it grew long (`insertGroup`, see task-log.ts). Such a row has
 * `seq` = its first event's seq, `last_seq` = its last one's, and a JSON array of the events as its
 * body. A replay expands it, so readers see one event per seq as before.
 *
 * Compaction (both logs): once the log holds more than `maxRows` events, progress events older than
 * the newest `keepRecent` are deleted, except the newest progress event of each step (a batch's
 * progress has no step: its newest one is kept). Status, step, child, output and log events are never
 * removed, so a replay still ends in the right state after the snapshot every subscriber gets first.
 */

type Row = Record<string, SqlStorageValue>;

/** Distributive Omit, so each member of an event union keeps its own fields. */
export type Unnumbered<E> = E extends unknown ? Omit<E, 'seq' | 'at'> : never;

export const COMPACT_MAX_ROWS = 2_000;
export const COMPACT_KEEP_RECENT = 500;

export class EventLog<E extends { seq: number; at: number; kind: string }> {
  private readonly sql: SqlStorage;
  private readonly stateTable: 'task' | 'batch';
  /** the table has a `last_seq` column: rows may hold several events (the task's log, migration 7) */
  private readonly grouped: boolean;

  constructor(sql: SqlStorage, stateTable: 'task' | 'batch', opts: { grouped?: boolean } = {}) {
    this.sql = sql;
    this.stateTable = stateTable;
    this.grouped = opts.grouped ?? false;
  }

  /**
   * Append one event inside the caller's transaction. `sets`/`values` are more column assignments
   * for the state row, folded into the same UPDATE that bumps the seq (one statement, not two).
   */
  append(event: Unnumbered<E>, now: number, sets: readonly string[] = [], values: readonly SqlStorageValue[] = []): E {
    const assign = ['seq = seq + 1', ...sets].join(', ');
    const row = this.sql
      .exec<{ seq: number }>(`UPDATE ${this.stateTable} SET ${assign} RETURNING seq`, ...values)
      .one();
    const seq = Number(row.seq);
    this.sql.exec(
      'INSERT INTO events (seq, at, kind, body) VALUES (?, ?, ?, ?)',
      seq,
      now,
      event.kind,
      JSON.stringify(event),
    );
    return { ...event, seq, at: now } as unknown as E;
  }

  /**
   * Write an event that already has its seq (one a subscriber may have been sent before it was
   * written; see pending-progress.ts). The caller moves the state row's seq counter past it.
   */
  insertNumbered(event: E): void {
    const { seq, at, ...body } = event;
    this.sql.exec(
      'INSERT INTO events (seq, at, kind, body) VALUES (?, ?, ?, ?)',
      seq,
      at,
      event.kind,
      JSON.stringify(body),
    );
  }

  /**
   * Write consecutive events that already have their seqs (a flush of progress events, all of one
   * kind) as one row; a single event is written as insertNumbered writes it.
   */
  insertMany(events: readonly E[]): void {
    const first = events[0];
    const last = events.at(-1);
    if (!first || !last) return;
    if (!this.grouped || events.length === 1) {
      for (const e of events) this.insertNumbered(e);
      return;
    }
    this.sql.exec(
      'INSERT INTO events (seq, at, kind, body, last_seq) VALUES (?, ?, ?, ?, ?)',
      first.seq,
      first.at,
      first.kind,
      JSON.stringify(events),
      last.seq,
    );
  }

  /**
   * Write consecutive events that already have their seqs as one row (a run of the task row's tail
   * of events, moved out when it grew long: task-log.ts), `body` being their JSON array. The row's
   * kind is `progress` only when all of them are, so compaction never removes a row that holds a
   * status, step, output or log event.
   */
  insertGroup(events: readonly E[], body: string): void {
    const first = events[0];
    const last = events.at(-1);
    if (!first || !last) return;
    const kind = events.find((e) => e.kind !== 'progress')?.kind ?? 'progress';
    this.sql.exec(
      'INSERT INTO events (seq, at, kind, body, last_seq) VALUES (?, ?, ?, ?, ?)',
      first.seq,
      first.at,
      kind,
      body,
      last.seq,
    );
  }

  /** Events with seq > after, oldest first (at most about `limit`). */
  after(after: number, limit = 10_000): E[] {
    if (!this.grouped) {
      return this.sql
        .exec<Row>('SELECT seq, at, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?', after, limit)
        .toArray()
        .map((r) => ({ ...(JSON.parse(String(r.body)) as object), seq: Number(r.seq), at: Number(r.at) }) as E);
    }
    // from the row that holds seq after+1 (a group may start before it), through the primary key
    const out: E[] = [];
    const rows = this.sql
      .exec<Row>(
        `SELECT seq, at, body, last_seq FROM events
         WHERE seq >= COALESCE((SELECT MAX(seq) FROM events WHERE seq <= ?), 0) ORDER BY seq LIMIT ?`,
        after + 1,
        limit,
      )
      .toArray();
    for (const r of rows) {
      if (r.last_seq == null) {
        if (Number(r.seq) > after) {
          out.push({ ...(JSON.parse(String(r.body)) as object), seq: Number(r.seq), at: Number(r.at) } as E);
        }
        continue;
      }
      for (const e of JSON.parse(String(r.body)) as E[]) if (e.seq > after) out.push(e);
    }
    return out;
  }

  /** Bound the log (see the header); returns the number of events deleted. */
  compact(lastSeq: number, maxRows = COMPACT_MAX_ROWS, keepRecent = COMPACT_KEEP_RECENT): number {
    // seq has no gaps, so the row count is known without a scan until compaction first ran
    if (lastSeq <= maxRows) return 0;
    // events, not rows: a row may hold many (a tail moved here holds up to 64, see task-log.ts)
    const count = Number(
      this.sql
        .exec<{ n: number | null }>(
          this.grouped
            ? 'SELECT SUM(COALESCE(last_seq, seq) - seq + 1) AS n FROM events'
            : 'SELECT COUNT(*) AS n FROM events',
        )
        .one().n ?? 0,
    );
    if (count <= maxRows) return 0;
    if (!this.grouped) {
      return this.sql.exec(
        `DELETE FROM events WHERE kind = 'progress' AND seq <= ?
         AND seq NOT IN (SELECT MAX(seq) FROM events WHERE kind = 'progress' GROUP BY json_extract(body, '$.step'))`,
        lastSeq - keepRecent,
      ).rowsWritten;
    }
    // a group's events are of one step (a step change writes what was pending first)
    const deleted = this.sql
      .exec<{ seq: number; last_seq: number | null }>(
        `DELETE FROM events WHERE kind = 'progress' AND COALESCE(last_seq, seq) <= ?
         AND seq NOT IN (SELECT MAX(seq) FROM events WHERE kind = 'progress'
                         GROUP BY COALESCE(json_extract(body, '$.step'), json_extract(body, '$[0].step')))
         RETURNING seq, last_seq`,
        lastSeq - keepRecent,
      )
      .toArray();
    return deleted.reduce((n, r) => n + (r.last_seq == null ? 1 : Number(r.last_seq) - Number(r.seq) + 1), 0);
  }
}
