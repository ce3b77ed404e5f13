/**
 * Folding a task's event stream into its state, for clients that watch a task live: the snapshot the
 * server sent on connect, advanced by every later event, plus the live numbers (speed, ETA, bytes)
 * that only progress events carry.
 */
import type { TaskEvent, TaskSnapshot } from '../protocol/task.ts';

/** What a progress callback receives: the task's state after the latest message. */
export interface TaskProgress {
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
  /** bytes/s while downloading; ffmpeg's speed factor (1 = realtime) while encoding */
  speed?: number;
  /** seconds left, when the runner knows */
  eta?: number;
  bytes?: number;
  totalBytes?: number;
  nextRetryAt: number | null;
  snapshot: TaskSnapshot;
}

/** Apply one event to a snapshot; events the snapshot already includes (seq <= snapshot.seq) change nothing. */
export function applyEvent(s: TaskSnapshot, e: TaskEvent): TaskSnapshot {
  if (e.seq <= s.seq) return s;
  const next: TaskSnapshot = { ...s, seq: e.seq, updatedAt: e.at };
  switch (e.kind) {
    case 'status':
      next.status = e.status;
      next.message = e.message;
      next.attempt = e.attempt;
      next.nextRetryAt = e.nextRetryAt ?? null;
      next.error = e.error ?? (e.status === 'running' ? null : s.error);
      if (e.status === 'succeeded') next.progress = 100;
      break;
    case 'step':
      next.steps = s.steps.map((st) => (st.index === e.step ? { ...st, status: e.status } : st));
      break;
    case 'progress':
      next.stage = e.stage;
      next.progress = e.progress;
      next.message = e.message;
      next.steps = s.steps.map((st) => (st.index === e.step ? { ...st, progress: e.stepProgress } : st));
      break;
    case 'output':
      if (!s.outputs.some((o) => o.name === e.output.name)) next.outputs = [...s.outputs, e.output];
      next.steps = s.steps.map((st) =>
        st.index === e.step && !st.outputs.includes(e.output.name)
          ? { ...st, outputs: [...st.outputs, e.output.name] }
          : st,
      );
      break;
    case 'log':
      break;
  }
  return next;
}

/** The progress view of a snapshot; `live` is the latest progress event, for speed, ETA and bytes. */
export function progressOf(s: TaskSnapshot, live?: Extract<TaskEvent, { kind: 'progress' }>): TaskProgress {
  const running = s.steps.find((st) => st.status === 'running');
  const current = running ?? s.steps.find((st) => st.status === 'pending') ?? s.steps.at(-1);
  const fresh = live && live.seq <= s.seq && s.status === 'running' ? live : undefined;
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
    ...(fresh?.speed !== undefined ? { speed: fresh.speed } : {}),
    ...(fresh?.eta !== undefined ? { eta: fresh.eta } : {}),
    ...(fresh?.bytes !== undefined ? { bytes: fresh.bytes } : {}),
    ...(fresh?.totalBytes !== undefined ? { totalBytes: fresh.totalBytes } : {}),
    nextRetryAt: s.nextRetryAt,
    snapshot: s,
  };
}
