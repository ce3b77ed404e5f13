/**
 * The task's event log, as TaskStore writes and replays it: the newest events live in the task row
 * itself (its `tail` column, a JSON array), older ones in the `events` table (event-log.ts).
 *
 * Why: every row written is billed, and every transaction of the task writes its row anyway. With
 * the events in that row, a move, a step change or a flush of progress writes one row, not one for
 * the row and one more for its events; a task whose log stays short (most of them) never writes the
 * events table at all, and a new object does not even create it (task-schema.ts BASELINE). The events
 * are in the same row as the status they describe, so they are durable exactly when it is.
 *
 * The tail is bounded: when a transaction leaves it at SPILL_EVENTS events or SPILL_CHARS characters
 * of JSON, the same transaction moves it into the events table (creating the table the first time),
 * a row per run of progress events and per run of other events, and the row keeps an empty tail. A replay reads the table's rows after the seq asked
 * for, then the tail: one event per seq, in order, as before. An object from before migration 8 has
 * a null tail and its events in the table; its next events go to the tail.
 *
 * Used only by TaskStore, inside its transactions (append, columns) and for replays (after).
 */
import type { TaskEvent } from '../protocol/task.ts';
import { EventLog } from './event-log.ts';

/** The tail moves to the events table once it holds this many events... */
export const SPILL_EVENTS = 64;
/** ...or this many characters of JSON (each write of the task row rewrites the tail). */
export const SPILL_CHARS = 16_384;

/** The events table, as migrations 1 and 7 build it (created when a tail first moves there). */
const EVENTS_TABLE = `CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('status','step','progress','output','log')),
  body TEXT NOT NULL,
  last_seq INTEGER
)`;

/**
 * The tail as runs of consecutive events: progress events together, every other kind together, so
 * each run is one row and compaction, which removes old progress rows only, can still remove every
 * old progress event (a run of progress lies within one step: a step change is an event).
 */
function runs(events: readonly TaskEvent[]): TaskEvent[][] {
  const out: TaskEvent[][] = [];
  for (const e of events) {
    const run = out.at(-1);
    if (run && (run[0]!.kind === 'progress') === (e.kind === 'progress')) run.push(e);
    else out.push([e]);
  }
  return out;
}

export class TaskLog {
  private readonly sql: SqlStorage;
  private readonly rows: EventLog<TaskEvent>;
  /** the tail as stored (plus what this transaction appended); undefined: not read yet */
  private tail: TaskEvent[] | undefined;
  /** the tail changed in this transaction: the row's UPDATE writes it */
  private dirty = false;
  /** does the events table exist? undefined: not asked yet */
  private table: boolean | undefined;

  constructor(sql: SqlStorage) {
    this.sql = sql;
    this.rows = new EventLog<TaskEvent>(sql, 'task', { grouped: true });
  }

  /** The task row was read (or inserted): its tail column. */
  load(tail: SqlStorageValue | undefined): void {
    // events appended in this transaction and not yet written stay
    if (this.dirty) return;
    this.tail = tail ? (JSON.parse(String(tail)) as TaskEvent[]) : [];
  }

  /** Inside a transaction: numbered events, appended after every seq the log has. */
  append(events: readonly TaskEvent[]): void {
    if (events.length === 0) return;
    this.loaded().push(...events);
    this.dirty = true;
  }

  /**
   * Inside a transaction, at its end: the tail column to write with the task row (null: unchanged).
   * A tail that grew long moves to the events table first.
   */
  columns(): { tail: string } | null {
    if (!this.dirty || this.tail === undefined) return null;
    this.dirty = false;
    const json = JSON.stringify(this.tail);
    if (this.tail.length < SPILL_EVENTS && json.length < SPILL_CHARS) return { tail: json };
    if (!this.hasTable()) {
      this.sql.exec(EVENTS_TABLE);
      this.table = true;
    }
    for (const run of runs(this.tail)) this.rows.insertGroup(run, JSON.stringify(run));
    this.tail = [];
    return { tail: '[]' };
  }

  /** Events with seq > after, oldest first (at most about `limit` from the table, then the tail). */
  after(after: number, limit = 10_000): TaskEvent[] {
    const tail = this.loaded();
    const fromTail = tail.filter((e) => e.seq > after);
    // everything asked for is in the tail: no query
    if (tail.length > 0 && tail[0]!.seq <= after + 1) return fromTail;
    const written = this.hasTable() ? this.rows.after(after, limit) : [];
    return fromTail.length === 0 ? written : [...written, ...fromTail];
  }

  /** Bound the events table (event-log.ts); the tail is bounded by moving it there. */
  compact(lastSeq: number, maxRows?: number, keepRecent?: number): number {
    return this.hasTable() ? this.rows.compact(lastSeq, maxRows, keepRecent) : 0;
  }

  /** The events table is known missing (a schema just created from the baseline, which omits it). */
  noTable(): void {
    this.table = false;
  }

  /** Read SQLite again (a transaction rolled back, or the storage was wiped). */
  forget(): void {
    this.tail = undefined;
    this.dirty = false;
    this.table = undefined;
  }

  private loaded(): TaskEvent[] {
    if (this.tail === undefined) {
      const r = this.sql.exec<{ tail: string | null }>('SELECT tail FROM task').toArray()[0];
      this.load(r?.tail);
    }
    return this.tail!;
  }

  private hasTable(): boolean {
    this.table ??=
      this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").toArray().length > 0;
    return this.table;
  }
}
