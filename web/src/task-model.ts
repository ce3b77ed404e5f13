/**
 * A task as the page knows it: the shared reducer's state (src/client/task-state.ts, the same one
 * the typed client and the CLI fold events with) plus what only the page shows: every event seq
 * received (the activity list and the gap check) and the newest log lines. Pure: no DOM, no network.
 */
import {
  initialState,
  type LiveNumbers,
  stateWithEvent,
  stateWithSnapshot,
  type TaskState,
} from '../../src/client/task-state.ts';
import type { TaskEvent, TaskSnapshot } from '../../src/protocol/task.ts';

export type { LiveNumbers };

export interface TaskView extends TaskState {
  /** every event seq received, in arrival order (duplicates from replays are dropped) */
  seen: number[];
  /** the newest log lines, oldest first */
  log: { at: number; text: string; level: 'info' | 'warn' | 'error' }[];
}

const MAX_LOG = 50;

export function newView(snap: TaskSnapshot): TaskView {
  return { ...initialState(snap), seen: [], log: [] };
}

/** Replace the state with a fresh snapshot (unless events already moved past it), keeping what the events taught us. */
export function applySnapshot(view: TaskView, snap: TaskSnapshot): TaskView {
  const next = stateWithSnapshot(view, snap);
  return next === view ? view : { ...view, ...next };
}

function pushLog(view: TaskView, at: number, text: string, level: 'info' | 'warn' | 'error'): TaskView['log'] {
  const log = [...view.log, { at, text, level }];
  return log.length > MAX_LOG ? log.slice(log.length - MAX_LOG) : log;
}

/** Apply one event; returns the same view when the event was seen before. */
export function applyEvent(view: TaskView, e: TaskEvent): TaskView {
  if (e.seq <= view.lastSeq && view.seen.includes(e.seq)) return view;
  let log = view.log;
  if (e.kind === 'status') log = pushLog(view, e.at, e.message, e.status === 'failed' ? 'error' : 'info');
  else if (e.kind === 'log') log = pushLog(view, e.at, e.message, e.level);
  else if (e.kind === 'output') log = pushLog(view, e.at, `saved ${e.output.name}`, 'info');
  return { ...stateWithEvent(view, e), seen: [...view.seen, e.seq], log };
}

/** Seqs missing between 1 and the highest seen (what a lossy stream would show). */
export function missingSeqs(view: TaskView): number[] {
  const have = new Set(view.seen);
  const out: number[] = [];
  for (let i = 1; i <= view.lastSeq; i++) if (!have.has(i)) out.push(i);
  return out;
}
