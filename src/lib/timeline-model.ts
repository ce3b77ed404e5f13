/**
 * The run timeline as a value: how a task's own events (status and step changes, the stage a progress
 * event or the object itself enters) open and close its spans. Pure, so the task object keeps the
 * timeline in memory and writes it whole with the task row (objects/run-timeline.ts) instead of a row
 * per span opened and closed; and so plain unit tests cover the rules.
 *
 * Rules: a span still open when its attempt ends is closed at that moment; spans are opened and
 * closed, never rewritten; a task retried many times stops recording past MAX_SPANS spans.
 */
import type { TimelineAttempt, TimelineSpan, TimelineStep } from '../protocol/timeline.ts';

/** Spans kept per task (waits, attempts, steps and stages counted together). */
export const MAX_SPANS = 2_000;

/** What the timeline hears: the fields of a task event it uses. */
export type TimelineInput =
  | { kind: 'status'; status: string; attempt: number; at: number }
  | { kind: 'step'; step: number; op: string; status: string; at: number }
  | { kind: 'stage'; step: number; name: string; at: number };

function spanCount(tl: readonly TimelineAttempt[]): number {
  let n = 0;
  for (const a of tl) {
    n += a.waits.length + (a.startedAt === null ? 0 : 1) + a.steps.length;
    for (const s of a.steps) n += s.stages.length;
  }
  return n;
}

function attemptOf(tl: TimelineAttempt[], n: number): TimelineAttempt {
  let a = tl.find((x) => x.attempt === n);
  if (!a) {
    a = { attempt: n, waits: [], startedAt: null, endedAt: null, outcome: null, steps: [] };
    tl.push(a);
    tl.sort((x, y) => x.attempt - y.attempt);
  }
  return a;
}

const isOpenAttempt = (a: TimelineAttempt) => a.startedAt !== null && a.endedAt === null;

/** The attempt that runs now (the one opened last), or null. */
function runningAttempt(tl: TimelineAttempt[], order: readonly number[]): TimelineAttempt | null {
  for (let i = order.length - 1; i >= 0; i--) {
    const a = tl.find((x) => x.attempt === order[i]);
    if (a && isOpenAttempt(a)) return a;
  }
  return tl.filter(isOpenAttempt).at(-1) ?? null;
}

function openStep(tl: TimelineAttempt[], index: number): TimelineStep | null {
  let found: TimelineStep | null = null;
  for (const a of tl) for (const s of a.steps) if (s.index === index && s.endedAt === null) found = s;
  return found;
}

function openStage(step: TimelineStep): TimelineSpan | null {
  return step.stages.findLast((s) => s.endedAt === null) ?? null;
}

/**
 * A timeline that changes in place. `opened` remembers the order attempts were opened in (which one
 * runs now when several were left open), rebuilt from the value when none is given.
 */
export class TimelineModel {
  readonly attempts: TimelineAttempt[];
  private readonly opened: number[];

  constructor(attempts: TimelineAttempt[] = []) {
    this.attempts = attempts;
    this.opened = attempts.filter(isOpenAttempt).map((a) => a.attempt);
  }

  /** The task was created: it waits for its first attempt. */
  created(at: number): void {
    this.wait(1, 'queued', at);
  }

  /** The name of the stage a step's open span is in, or null. */
  stageOf(index: number): string | null {
    const open = openStep(this.attempts, index);
    return (open && openStage(open)?.name) ?? null;
  }

  /** Apply one input; true when the timeline changed. */
  apply(e: TimelineInput): boolean {
    if (e.kind === 'status') return this.status(e.status, e.attempt, e.at);
    if (e.kind === 'step') return this.step(e.step, e.op, e.status, e.at);
    return this.stage(e.step, e.name, e.at);
  }

  private full(): boolean {
    return spanCount(this.attempts) >= MAX_SPANS;
  }

  private wait(attempt: number, name: string, at: number): void {
    if (this.full()) return;
    attemptOf(this.attempts, attempt).waits.push({ name, startedAt: at, endedAt: null });
  }

  /** Close every open span of the given kinds (in every attempt); stages and waits carry no outcome. */
  private closeAll(
    at: number,
    outcome: string | null,
    kinds: readonly ('wait' | 'attempt' | 'step' | 'stage')[],
  ): void {
    for (const a of this.attempts) {
      if (kinds.includes('wait')) for (const w of a.waits) w.endedAt ??= at;
      for (const s of a.steps) {
        if (kinds.includes('stage')) for (const g of s.stages) g.endedAt ??= at;
        if (kinds.includes('step') && s.endedAt === null) {
          s.endedAt = at;
          s.outcome = outcome;
        }
      }
      if (kinds.includes('attempt') && isOpenAttempt(a)) {
        a.endedAt = at;
        a.outcome = outcome;
      }
    }
  }

  private status(status: string, attempt: number, at: number): boolean {
    if (status === 'queued') {
      this.closeAll(at, 'canceled', ['stage', 'step', 'attempt', 'wait']);
      this.wait(attempt, 'queued', at);
    } else if (status === 'running') {
      this.closeAll(at, null, ['wait']);
      const a = this.attempts.find((x) => x.attempt === attempt);
      if (!(a && isOpenAttempt(a)) && !this.full()) {
        const next = attemptOf(this.attempts, attempt);
        next.startedAt = at;
        next.endedAt = null;
        next.outcome = null;
        this.opened.push(attempt);
      }
    } else if (status === 'retrying') {
      this.closeAll(at, 'retrying', ['stage', 'step', 'attempt']);
      this.wait(attempt + 1, 'retrying', at);
    } else {
      this.closeAll(at, status, ['stage', 'step', 'attempt', 'wait']);
    }
    return true;
  }

  private step(index: number, op: string, status: string, at: number): boolean {
    const attempt = runningAttempt(this.attempts, this.opened);
    if (attempt === null) return false;
    const open = openStep(this.attempts, index);
    if (status === 'running') {
      if (open || this.full()) return false;
      attempt.steps.push({ index, op, startedAt: at, endedAt: null, outcome: null, stages: [] });
      return true;
    }
    for (const a of this.attempts) {
      for (const s of a.steps) if (s.index === index) for (const g of s.stages) g.endedAt ??= at;
    }
    if (open) {
      open.endedAt = at;
      open.outcome = status;
    }
    return true;
  }

  /** A step entered a stage; false when it was in that stage already (the common case). */
  private stage(index: number, name: string, at: number): boolean {
    const open = openStep(this.attempts, index);
    const current = open ? openStage(open) : null;
    if (current && current.name === name) return false;
    const attempt = runningAttempt(this.attempts, this.opened);
    if (attempt === null || !open) return false;
    // the stage belongs to the running attempt's last span of this step
    const step = attempt.steps.findLast((s) => s.index === index);
    if (!step) return false;
    if (current) current.endedAt = at;
    if (this.full()) return true;
    step.stages.push({ name, startedAt: at, endedAt: null });
    return true;
  }
}
