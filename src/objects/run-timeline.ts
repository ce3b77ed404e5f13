/**
 * RunTimeline: records what a task's run did and when, in the task object's SQLite, for the snapshot's
 * `timeline` (src/protocol/timeline.ts) and the page's bars. It is fed the task's own events as they
 * are written (`observe`: status changes, step changes, progress with its stage) and the one stage the
 * object performs itself (`stage`: storing outputs in R2), so it needs no hooks into the runner.
 *
 * Spans are opened and closed, never rewritten; a span still open when the attempt ends is closed at
 * that moment. Also keeps the request body as the API accepted it (`setRequest`, `request`).
 */
import type { TaskEvent } from '../protocol/task.ts';
import type { TimelineAttempt, TimelineSpan, TimelineStep } from '../protocol/timeline.ts';

/** Append to the task object's migration list. */
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

/** Spans kept per task (a task retried many times stops recording rather than grow without bound). */
const MAX_SPANS = 2_000;

type Kind = 'wait' | 'attempt' | 'step' | 'stage';
type Row = Record<string, SqlStorageValue>;

export class RunTimeline {
  private readonly storage: DurableObjectStorage;
  /**
   * The stage each step's open span is known to have: progress events arrive many times a second and
   * almost never change stage, so the common case asks SQLite nothing. Cleared by every other change
   * (and empty after a restart, when the table answers).
   */
  private readonly knownStage = new Map<number, string>();

  constructor(storage: DurableObjectStorage) {
    this.storage = storage;
  }

  private get sql() {
    return this.storage.sql;
  }

  /** The task was created (queued for its first attempt) from this request body. */
  created(body: unknown, at: number): void {
    this.knownStage.clear();
    this.sql.exec('INSERT OR REPLACE INTO timeline_request (one, body) VALUES (1, ?)', JSON.stringify(body));
    this.insert(1, 'wait', null, 'queued', at);
  }

  request(): unknown {
    const r = this.sql.exec<{ body: string }>('SELECT body FROM timeline_request').toArray()[0];
    return r ? JSON.parse(r.body) : null;
  }

  /** Feed one event the task just wrote. */
  observe(e: TaskEvent): void {
    if (e.kind !== 'progress') this.knownStage.clear();
    if (e.kind === 'status') this.status(e.status, e.attempt, e.at);
    else if (e.kind === 'step') this.step(e.step, e.op, e.status, e.at);
    else if (e.kind === 'progress') this.stage(e.step, e.stage, e.at);
  }

  /** A step entered a stage (a progress event's stage, or the object storing an output). */
  stage(step: number, name: string, at: number): void {
    if (this.knownStage.get(step) === name) return;
    const open = this.open('stage', step);
    if (open && open.name === name) {
      this.knownStage.set(step, name);
      return;
    }
    const attempt = this.currentAttempt();
    if (attempt === null || !this.open('step', step)) return;
    if (open) this.close(open.id, at, null);
    if (this.insert(attempt, 'stage', step, name, at)) this.knownStage.set(step, name);
  }

  private status(status: string, attempt: number, at: number): void {
    if (status === 'queued') {
      this.closeAll(at, 'canceled', ['stage', 'step', 'attempt', 'wait']);
      this.insert(attempt, 'wait', null, 'queued', at);
    } else if (status === 'running') {
      this.closeAll(at, null, ['wait']);
      if (!this.openAttempt(attempt)) this.insert(attempt, 'attempt', null, 'attempt', at);
    } else if (status === 'retrying') {
      this.closeAll(at, 'retrying', ['stage', 'step', 'attempt']);
      this.insert(attempt + 1, 'wait', null, 'retrying', at);
    } else {
      this.closeAll(at, status, ['stage', 'step', 'attempt', 'wait']);
    }
  }

  private step(index: number, op: string, status: string, at: number): void {
    const attempt = this.currentAttempt();
    if (attempt === null) return;
    const open = this.open('step', index);
    if (status === 'running') {
      if (!open) this.insert(attempt, 'step', index, op, at);
      return;
    }
    for (const s of this.sql
      .exec<Row>("SELECT id FROM timeline_spans WHERE kind = 'stage' AND step = ? AND ended_at IS NULL", index)
      .toArray()) {
      this.close(Number(s.id), at, null);
    }
    if (open) this.close(open.id, at, status);
  }

  /** The attempts, oldest first, with their waits, steps and stages. */
  timeline(): TimelineAttempt[] {
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
      const kind = r.kind as Kind;
      if (kind === 'wait') a.waits.push(span(r));
      else if (kind === 'attempt') {
        a.startedAt = Number(r.started_at);
        a.endedAt = r.ended_at == null ? null : Number(r.ended_at);
        a.outcome = r.outcome == null ? null : String(r.outcome);
      } else if (kind === 'step') {
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

  private currentAttempt(): number | null {
    const r = this.sql
      .exec<Row>(
        "SELECT attempt FROM timeline_spans WHERE kind = 'attempt' AND ended_at IS NULL ORDER BY id DESC LIMIT 1",
      )
      .toArray()[0];
    return r ? Number(r.attempt) : null;
  }

  private openAttempt(attempt: number): boolean {
    return (
      this.sql
        .exec<Row>("SELECT id FROM timeline_spans WHERE kind = 'attempt' AND attempt = ? AND ended_at IS NULL", attempt)
        .toArray().length > 0
    );
  }

  private open(kind: Kind, step: number): { id: number; name: string } | null {
    const r = this.sql
      .exec<Row>(
        'SELECT id, name FROM timeline_spans WHERE kind = ? AND step = ? AND ended_at IS NULL ORDER BY id DESC LIMIT 1',
        kind,
        step,
      )
      .toArray()[0];
    return r ? { id: Number(r.id), name: String(r.name) } : null;
  }

  /** Open a span; false when the task already has MAX_SPANS of them. */
  private insert(attempt: number, kind: Kind, step: number | null, name: string, at: number): boolean {
    const count = this.sql.exec<{ c: number }>('SELECT COUNT(*) AS c FROM timeline_spans').one().c;
    if (count >= MAX_SPANS) return false;
    this.sql.exec(
      'INSERT INTO timeline_spans (attempt, kind, step, name, started_at) VALUES (?, ?, ?, ?, ?)',
      attempt,
      kind,
      step,
      name,
      at,
    );
    return true;
  }

  private close(id: number, at: number, outcome: string | null): void {
    this.sql.exec('UPDATE timeline_spans SET ended_at = ?, outcome = ? WHERE id = ?', at, outcome, id);
  }

  private closeAll(at: number, outcome: string | null, kinds: Kind[]): void {
    for (const kind of kinds) {
      // stages carry no outcome of their own
      const o = kind === 'stage' || kind === 'wait' ? null : outcome;
      this.sql.exec(
        'UPDATE timeline_spans SET ended_at = ?, outcome = ? WHERE kind = ? AND ended_at IS NULL',
        at,
        o,
        kind,
      );
    }
  }
}
