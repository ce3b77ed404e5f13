/**
 * RunTimeline: what a task's run did and when, for the snapshot's `timeline` (src/protocol/timeline.ts)
 * and the page's bars, and the request body as the API accepted it (`request`).
 *
 * The timeline is kept in memory (lib/timeline-model.ts) and written whole, as JSON, in the task row's
 * `timeline` column by the same UPDATE that writes the row for the events that changed it: TaskStore
 * feeds it every event it writes (`observe`) and asks for its `columns` at the end of each transaction.
 * A stage change that arrives with a progress event is written with the next flush of pending progress,
 * so a crash can lose it exactly as it loses that progress (README, events). The request body is a
 * column of the task row too, written once by the create INSERT.
 *
 * Before migration 7 each span was a row of its own (`timeline_spans`, one written to open and one to
 * close) and the body had its own table. An object migrated from then has a null `timeline` column:
 * its spans are read once from the old table, and its next write moves them into the row.
 */
import { type TimelineInput, TimelineModel } from '../lib/timeline-model.ts';
import type { TaskEvent } from '../protocol/task.ts';
import type { TimelineAttempt, TimelineSpan, TimelineStep } from '../protocol/timeline.ts';

/** Tables of the span-per-row timeline (migration 6; read only for objects created before 7, and
 * not created at all for a new object: task-schema.ts BASELINE). */
export const RUN_TIMELINE_MIGRATION = `
  CREATE TABLE timeline_spans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    attempt INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('wait','attempt','step','stage')),
    step INTEGER,
    name TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    outcome TEXT
  );
  CREATE TABLE timeline_request (one INTEGER PRIMARY KEY CHECK (one = 1), body TEXT NOT NULL);
`;

/** Migration 7: the timeline and the request body become columns of the task row. */
export const TIMELINE_IN_ROW_MIGRATION = `
  ALTER TABLE task ADD COLUMN timeline TEXT;
  ALTER TABLE task ADD COLUMN request TEXT;
  UPDATE task SET request = (SELECT body FROM timeline_request WHERE one = 1);
`;

type Row = Record<string, SqlStorageValue>;

export class RunTimeline {
  private readonly storage: DurableObjectStorage;
  /** undefined: not read yet (a new instance, or dropped after a rolled-back transaction) */
  private model: TimelineModel | undefined;
  private dirty = false;
  /** the create request's body, until the create INSERT has taken it */
  private newRequest: string | null = null;
  /** the request body as stored (it never changes); undefined: not read yet */
  private cachedRequest: unknown;
  /**
   * The stage each step is known to be in: progress events arrive many times a second and almost
   * never change stage, so the common case costs no work. Cleared by every other change.
   */
  private readonly knownStage = new Map<number, string>();

  constructor(storage: DurableObjectStorage) {
    this.storage = storage;
  }

  private get sql() {
    return this.storage.sql;
  }

  /** The task is being created (queued for its first attempt) from this request body. */
  created(body: unknown, at: number): void {
    this.knownStage.clear();
    this.model = new TimelineModel();
    this.model.created(at);
    this.dirty = true;
    this.newRequest = JSON.stringify(body);
    this.cachedRequest = JSON.parse(this.newRequest) as unknown;
  }

  request(): unknown {
    if (this.cachedRequest === undefined) {
      const r = this.sql.exec<{ request: string | null }>('SELECT request FROM task').toArray()[0];
      this.cachedRequest = r?.request ? JSON.parse(r.request) : null;
    }
    return this.cachedRequest;
  }

  /** Feed one event the task writes. */
  observe(e: TaskEvent): void {
    if (e.kind === 'progress') {
      this.stage(e.step, e.stage, e.at);
      return;
    }
    this.knownStage.clear();
    let input: TimelineInput | null = null;
    if (e.kind === 'status') input = { kind: 'status', status: e.status, attempt: e.attempt, at: e.at };
    else if (e.kind === 'step') input = { kind: 'step', step: e.step, op: e.op, status: e.status, at: e.at };
    if (input && this.load().apply(input)) this.dirty = true;
  }

  /** A step entered a stage (a progress event's stage, or the object storing an output). */
  stage(step: number, name: string, at: number): void {
    if (this.knownStage.get(step) === name) return;
    const model = this.load();
    const changed = model.apply({ kind: 'stage', step, name, at });
    if (changed) this.dirty = true;
    if (changed || model.stageOf(step) === name) this.knownStage.set(step, name);
  }

  /**
   * Inside the store's transaction: the task row's columns this timeline has to write (none when
   * nothing changed since the last write).
   */
  columns(): Record<string, SqlStorageValue> | null {
    if (!this.dirty || !this.model) return null;
    this.dirty = false;
    const out: Record<string, SqlStorageValue> = { timeline: JSON.stringify(this.model.attempts) };
    if (this.newRequest !== null) {
      out.request = this.newRequest;
      this.newRequest = null;
    }
    return out;
  }

  /** Drop the in-memory copy (its transaction rolled back, or the task was deleted). */
  forget(): void {
    this.model = undefined;
    this.dirty = false;
    this.newRequest = null;
    this.cachedRequest = undefined;
    this.knownStage.clear();
  }

  /** The attempts, oldest first, with their waits, steps and stages (read-only: it is the live copy). */
  timeline(): TimelineAttempt[] {
    return this.load().attempts;
  }

  private load(): TimelineModel {
    if (!this.model) {
      const r = this.sql.exec<{ timeline: string | null }>('SELECT timeline FROM task').toArray()[0];
      // no row: no task (yet); a row without the column's value: an object from before migration 7
      const attempts = !r ? [] : r.timeline ? (JSON.parse(r.timeline) as TimelineAttempt[]) : this.legacy();
      this.model = new TimelineModel(attempts);
    }
    return this.model;
  }

  /** The timeline of an object from before migration 7, from its span rows. */
  private legacy(): TimelineAttempt[] {
    const exists = this.sql
      .exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'timeline_spans'")
      .toArray().length;
    if (!exists) return [];
    const rows = this.sql.exec<Row>('SELECT * FROM timeline_spans ORDER BY id').toArray();
    const attempts = new Map<number, TimelineAttempt>();
    const of = (n: number) => {
      let a = attempts.get(n);
      if (!a) {
        a = { attempt: n, waits: [], startedAt: null, endedAt: null, outcome: null, steps: [] };
        attempts.set(n, a);
      }
      return a;
    };
    const span = (r: Row): TimelineSpan => ({
      name: String(r.name),
      startedAt: Number(r.started_at),
      endedAt: r.ended_at == null ? null : Number(r.ended_at),
    });
    for (const r of rows) {
      const a = of(Number(r.attempt));
      if (r.kind === 'wait') a.waits.push(span(r));
      else if (r.kind === 'attempt') {
        a.startedAt = Number(r.started_at);
        a.endedAt = r.ended_at == null ? null : Number(r.ended_at);
        a.outcome = r.outcome == null ? null : String(r.outcome);
      } else if (r.kind === 'step') {
        const s: TimelineStep = {
          index: Number(r.step),
          op: String(r.name),
          startedAt: Number(r.started_at),
          endedAt: r.ended_at == null ? null : Number(r.ended_at),
          outcome: r.outcome == null ? null : String(r.outcome),
          stages: [],
        };
        a.steps.push(s);
      } else {
        const s = [...a.steps].reverse().find((x) => x.index === Number(r.step));
        s?.stages.push(span(r));
      }
    }
    return [...attempts.values()].sort((x, y) => x.attempt - y.attempt);
  }
}
