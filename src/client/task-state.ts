/**
 * The one reducer of a task's event stream, used by the typed client, the CLI and the web page:
 * the snapshot the server sent on connect, advanced by every later event, plus the live numbers
 * (bytes/s, realtime factor, ETA, bytes) that only progress events carry. Pure: no DOM, no network.
 *
 * A snapshot is authoritative: events it already includes (seq <= snapshot.seq) change nothing, so
 * a reconnect never moves a bar backwards. On a new attempt the task resumes at its first unfinished
 * step; its progress is what the status event says (the server's resumed share) or, until every
 * server sends that, the value already known, never a guess of 0.
 */
import type { OutputInfo, TaskEvent, TaskSnapshot } from '../protocol/task.ts';

type ProgressEvent = Extract<TaskEvent, { kind: 'progress' }>;

/** What only progress events carry; cleared by a status change. */
export interface LiveNumbers {
  /** while bytes move (downloading, receiving, storing): bytes per second */
  bytesPerSecond?: number;
  /** while encoding: ffmpeg's speed factor (1 = realtime) */
  realtime?: number;
  /** seconds left, when the runner knows */
  eta?: number;
  bytes?: number;
  totalBytes?: number;
}

/** What a progress callback receives: the task's state after the latest message. */
export interface TaskProgress extends LiveNumbers {
  id: string;
  status: TaskSnapshot['status'];
  stage: TaskSnapshot['stage'];
  /** 0-100 for the whole task */
  progress: number;
  message: string;
  attempt: number;
  maxAttempts: number;
  /** the step running now (0-based) and how many there are */
  step: number;
  steps: number;
  op: string | null;
  nextRetryAt: number | null;
  snapshot: TaskSnapshot;
}

function withOutput(outputs: readonly OutputInfo[], output: OutputInfo): OutputInfo[] {
  return [...outputs.filter((o) => o.name !== output.name), output];
}

/** Apply one event to a snapshot; events the snapshot already includes (seq <= snapshot.seq) change nothing. */
export function applyEvent(s: TaskSnapshot, e: TaskEvent): TaskSnapshot {
  if (e.seq <= s.seq) return s;
  const next: TaskSnapshot = { ...s, seq: e.seq, updatedAt: e.at };
  switch (e.kind) {
    case 'status': {
      // The status event carries the task's progress where the server sends it (a resumed attempt
      // starts at the finished steps' share); without it the known value stands.
      const progress = (e as { progress?: number }).progress;
      if (e.attempt !== s.attempt) {
        next.steps = s.steps.map((st) => (st.status === 'succeeded' ? st : { ...st, status: 'pending', progress: 0 }));
      }
      if (typeof progress === 'number' && Number.isFinite(progress)) next.progress = progress;
      next.status = e.status;
      next.message = e.message;
      next.attempt = e.attempt;
      next.nextRetryAt = e.nextRetryAt ?? null;
      next.error = e.error ?? (e.status === 'failed' || e.status === 'retrying' ? s.error : null);
      // As the object writes it: a running attempt starts at 'starting'; any other status has no stage.
      next.stage = e.status === 'running' ? 'starting' : null;
      if (e.status === 'succeeded') next.progress = 100;
      break;
    }
    case 'step':
      next.steps = s.steps.map((st) =>
        st.index === e.step ? { ...st, status: e.status, progress: e.status === 'succeeded' ? 100 : st.progress } : st,
      );
      break;
    case 'progress':
      next.stage = e.stage;
      next.progress = Math.max(s.progress, e.progress);
      next.message = e.message;
      next.steps = s.steps.map((st) =>
        st.index === e.step ? { ...st, status: 'running', progress: Math.max(st.progress, e.stepProgress) } : st,
      );
      break;
    case 'output':
      next.outputs = withOutput(s.outputs, e.output);
      next.steps = s.steps.map((st) =>
        st.index === e.step && !st.outputs.includes(e.output.name)
          ? { ...st, outputs: [...st.outputs, e.output.name] }
          : st,
      );
      break;
    case 'log':
      next.message = e.message;
      break;
  }
  return next;
}

/** The live numbers after an event: a progress event's own, cleared by a status change, else kept. */
export function liveAfter(live: LiveNumbers, e: TaskEvent): LiveNumbers {
  if (e.kind === 'status') return {};
  if (e.kind !== 'progress') return live;
  const out: LiveNumbers = {};
  if (e.bytesPerSecond !== undefined) out.bytesPerSecond = e.bytesPerSecond;
  if (e.realtime !== undefined) out.realtime = e.realtime;
  if (e.eta !== undefined) out.eta = e.eta;
  if (e.bytes !== undefined) out.bytes = e.bytes;
  if (e.totalBytes !== undefined) out.totalBytes = e.totalBytes;
  return out;
}

/** A task as a watcher knows it: the folded snapshot, the live numbers, the highest event seq seen. */
export interface TaskState {
  snap: TaskSnapshot;
  live: LiveNumbers;
  lastSeq: number;
}

export function initialState(snap: TaskSnapshot): TaskState {
  return { snap, live: {}, lastSeq: 0 };
}

/** A fresh snapshot replaces the state (unless events already moved past it); live numbers last while running. */
export function stateWithSnapshot(state: TaskState, snap: TaskSnapshot): TaskState {
  if (snap.seq < state.snap.seq) return state;
  return { snap, live: snap.status === 'running' ? state.live : {}, lastSeq: state.lastSeq };
}

/** One event folded in (duplicates and replays up to the snapshot's seq change only lastSeq). */
export function stateWithEvent(state: TaskState, e: TaskEvent): TaskState {
  const lastSeq = Math.max(state.lastSeq, e.seq);
  if (e.seq <= state.snap.seq) return lastSeq === state.lastSeq ? state : { ...state, lastSeq };
  return { snap: applyEvent(state.snap, e), live: liveAfter(state.live, e), lastSeq };
}

/** The progress view of a state, what `onProgress` receives. */
export function progressOf(s: TaskSnapshot, live: LiveNumbers | ProgressEvent = {}): TaskProgress {
  const running = s.steps.find((st) => st.status === 'running');
  const current = running ?? s.steps.find((st) => st.status === 'pending') ?? s.steps.at(-1);
  const fresh = s.status === 'running' ? ('kind' in live ? liveAfter({}, live) : live) : {};
  return {
    id: s.id,
    status: s.status,
    stage: s.stage,
    progress: s.progress,
    message: s.message,
    attempt: s.attempt,
    maxAttempts: s.maxAttempts,
    step: current?.index ?? 0,
    steps: s.steps.length,
    op: current?.op ?? null,
    ...fresh,
    nextRetryAt: s.nextRetryAt,
    snapshot: s,
  };
}

/**
 * Whether two progress views would show a user the same thing (status, stage, whole percent, step,
 * message, speed, ETA, bytes): identical consecutive updates are one `onProgress` call. (Outputs
 * arrive through `onEvent` and in the final snapshot.)
 */
export function sameProgress(a: TaskProgress | null, b: TaskProgress): boolean {
  if (!a) return false;
  return (
    a.status === b.status &&
    a.stage === b.stage &&
    a.progress === b.progress &&
    a.message === b.message &&
    a.attempt === b.attempt &&
    a.step === b.step &&
    a.nextRetryAt === b.nextRetryAt &&
    a.bytesPerSecond === b.bytesPerSecond &&
    a.realtime === b.realtime &&
    a.eta === b.eta &&
    a.bytes === b.bytes &&
    a.totalBytes === b.totalBytes
  );
}
