/**
 * A task as the page knows it: the last snapshot with every later event applied, plus the live
 * numbers (speed, ETA, bytes) only progress events carry. Pure: no DOM, no network.
 *
 * A snapshot is authoritative. Events the server replays up to the snapshot's seq are recorded (for
 * the activity list and the gap check) but not re-applied, so a reconnect never moves a bar backwards.
 */
import type { OutputInfo, TaskEvent, TaskSnapshot } from '../../src/protocol/task.ts';

export interface LiveNumbers {
  speed?: number | undefined;
  eta?: number | undefined;
  bytes?: number | undefined;
  totalBytes?: number | undefined;
}

export interface TaskView {
  snap: TaskSnapshot;
  live: LiveNumbers;
  /** the highest event seq received; a reconnect asks for what came after it */
  lastSeq: number;
  /** every event seq received, in arrival order (duplicates from replays are dropped) */
  seen: number[];
  /** the newest log lines, oldest first */
  log: { at: number; text: string; level: 'info' | 'warn' | 'error' }[];
}

const MAX_LOG = 50;

export function newView(snap: TaskSnapshot): TaskView {
  return { snap, live: {}, lastSeq: 0, seen: [], log: [] };
}

/** Replace the state with a fresh snapshot, keeping what the events taught us. */
export function applySnapshot(view: TaskView, snap: TaskSnapshot): TaskView {
  const live = snap.status === 'running' ? view.live : {};
  return { ...view, snap, live };
}

function pushLog(view: TaskView, at: number, text: string, level: 'info' | 'warn' | 'error'): TaskView['log'] {
  const log = [...view.log, { at, text, level }];
  return log.length > MAX_LOG ? log.slice(log.length - MAX_LOG) : log;
}

function withOutput(outputs: readonly OutputInfo[], output: OutputInfo): OutputInfo[] {
  return [...outputs.filter((o) => o.name !== output.name), output];
}

/** Apply one event; returns the same view when the event was seen before. */
export function applyEvent(view: TaskView, e: TaskEvent): TaskView {
  if (e.seq <= view.lastSeq && view.seen.includes(e.seq)) return view;
  const seen = [...view.seen, e.seq];
  const lastSeq = Math.max(view.lastSeq, e.seq);
  const stale = e.seq <= view.snap.seq;
  let log = view.log;
  if (e.kind === 'status') log = pushLog(view, e.at, e.message, e.status === 'failed' ? 'error' : 'info');
  else if (e.kind === 'log') log = pushLog(view, e.at, e.message, e.level);
  else if (e.kind === 'output') log = pushLog(view, e.at, `saved ${e.output.name}`, 'info');
  if (stale) return { ...view, seen, lastSeq, log };

  const s: TaskSnapshot = { ...view.snap, seq: e.seq, updatedAt: e.at };
  let live = view.live;
  switch (e.kind) {
    case 'status':
      if (e.attempt !== s.attempt) {
        // A new attempt resumes at the first unfinished step; its progress starts again from there.
        s.progress = 0;
        s.steps = s.steps.map((st) => (st.status === 'succeeded' ? st : { ...st, status: 'pending', progress: 0 }));
      }
      s.status = e.status;
      s.message = e.message;
      s.attempt = e.attempt;
      s.error = e.error ?? (e.status === 'failed' ? s.error : null);
      s.nextRetryAt = e.nextRetryAt ?? null;
      s.stage = e.status === 'running' ? 'starting' : null;
      if (e.status === 'succeeded') s.progress = 100;
      live = {};
      break;
    case 'step':
      s.steps = s.steps.map((st) => (st.index === e.step ? { ...st, status: e.status } : st));
      if (e.status === 'succeeded') {
        s.steps = s.steps.map((st) => (st.index === e.step ? { ...st, progress: 100 } : st));
      }
      break;
    case 'progress':
      s.progress = Math.max(s.progress, e.progress);
      s.stage = e.stage;
      s.message = e.message;
      s.steps = s.steps.map((st) =>
        st.index === e.step ? { ...st, status: 'running', progress: Math.max(st.progress, e.stepProgress) } : st,
      );
      live = { speed: e.speed, eta: e.eta, bytes: e.bytes, totalBytes: e.totalBytes };
      break;
    case 'output':
      s.outputs = withOutput(s.outputs, e.output);
      s.steps = s.steps.map((st) =>
        st.index === e.step && !st.outputs.includes(e.output.name)
          ? { ...st, outputs: [...st.outputs, e.output.name] }
          : st,
      );
      break;
    case 'log':
      s.message = e.message;
      break;
  }
  return { snap: s, live, lastSeq, seen, log };
}

/** Seqs missing between 1 and the highest seen (what a lossy stream would show). */
export function missingSeqs(view: TaskView): number[] {
  const have = new Set(view.seen);
  const out: number[] = [];
  for (let i = 1; i <= view.lastSeq; i++) if (!have.has(i)) out.push(i);
  return out;
}
