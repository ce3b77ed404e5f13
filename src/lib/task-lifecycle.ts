/**
 * The task lifecycle as one pure function: (state, input) -> the move to make.
 *
 * A move is the task row's patch, the step rows that change, the events to append (written with the
 * patch in one transaction by TaskStore.applyMove) and the effects the object then carries out (start
 * or abandon the runner job, ask the tenant for a slot, tell the tenant or batch, close sockets,
 * re-arm the alarm). What each status resets (job id and seq, stage, run time, last error) is decided
 * here once, in `resetsFor`. Nothing here touches bindings or the clock: `now` comes with the input.
 *
 * Used by TaskObject (RPCs, the alarm) and TaskDriver (step moves, the attempt's outcome); unit
 * tests cover every status against every input (test/unit/task-lifecycle.test.ts).
 */
import type { ErrorBody } from '../protocol/errors.ts';
import type { Op } from '../protocol/ops.ts';
import type { Stage } from '../protocol/runner.ts';
import type { StepStatus, TaskEvent, TaskStatus } from '../protocol/task.ts';
import { overallProgress } from './progress.ts';
import { backoffDelayMs, isRetryable } from './retry-policy.ts';
import { canTransition, isTerminal } from './task-status.ts';

/**
 * A queued task without a slot asks its tenant again after this long, plus up to QUEUED_JITTER_MS.
 * Only a safety net: the tenant hands slots out itself and sends an unacknowledged grant again, so
 * with 10,000 tasks waiting this costs ~13 calls/s, not the ~330/s a 30 s recheck cost.
 */
export const QUEUED_RECHECK_MS = 10 * 60_000;
/** The spread of the safety net, so tasks that queued together do not ask together. */
export const QUEUED_JITTER_MS = 5 * 60_000;
/** A queued task whose tenant could not be asked for a slot asks again after this long. */
export const SLOT_ERROR_RECHECK_MS = 2_000;
/** The watchdog never sleeps longer than this while a job runs. */
export const MAX_WATCHDOG_TICK_MS = 10_000;
/** ...nor shorter than this. */
export const MIN_WATCHDOG_TICK_MS = 250;
/** A starved object (late alarms) still calls a silence this many stall timeouts long a stall. */
export const STARVED_STALL_FACTOR = 3;

/** Distributive Omit, so each member of the TaskEvent union keeps its own fields. */
export type NewEvent = TaskEvent extends infer E ? (E extends TaskEvent ? Omit<E, 'seq' | 'at'> : never) : never;

/** Task fields a move may update alongside its events. */
export interface TaskPatch {
  stage?: Stage | null;
  progress?: number;
  message?: string;
  attempt?: number;
  runAt?: number | null;
  lastError?: ErrorBody | null;
  currentStep?: number;
  jobId?: string | null;
  jobSeq?: number;
  maxAttempts?: number;
}

/** What the lifecycle needs to know about a task. */
export interface LifecycleState {
  id: string;
  status: TaskStatus;
  progress: number;
  message: string;
  attempt: number;
  maxAttempts: number;
  /** attempts one run may use (the task's own maxAttempts, as created); a manual retry grants as many again */
  attemptsPerRun: number;
  runAt: number | null;
  currentStep: number;
  jobId: string | null;
  steps: readonly { op: Op; status: StepStatus }[];
}

export interface LifecycleConfig {
  retryDelaysMs: readonly number[];
  stallTimeoutMs: number;
  maxConcurrentTasks: number;
}

/** The watchdog's view of the running attempt (in-memory facts of the object, not stored state). */
export interface WatchdogFacts {
  /** is a drive loop running in this instance (false after an eviction or restart)? */
  driving: boolean;
  lastContactAt: number;
  /** when this alarm was due (0: unknown), to tell how late it ran */
  dueAt: number;
  /** the watchdog re-attached after a silence and nothing was heard since */
  reattachedAfterStall: boolean;
}

export type LifecycleInput =
  | { kind: 'alarm'; now: number; watchdog: WatchdogFacts }
  | { kind: 'slot_granted'; now: number }
  | { kind: 'slot_denied'; now: number }
  | { kind: 'slot_error'; now: number }
  | { kind: 'step_started'; now: number; step: number }
  | { kind: 'step_succeeded'; now: number; step: number; jobId: string }
  | { kind: 'steps_done'; now: number }
  | { kind: 'attempt_failed'; now: number; error: ErrorBody; jobId?: string | null }
  | { kind: 'cancel'; now: number }
  | { kind: 'retry'; now: number };

export type LifecycleInputKind = LifecycleInput['kind'];

export type Effect =
  /** ask the tenant for a concurrency slot (the safety net, or after a manual retry); its answer comes back as slot_granted / denied / error */
  | { kind: 'acquire_slot' }
  /** run the unfinished steps (re-attaching to a recorded job) */
  | { kind: 'start_driver' }
  /** stop listening to the current job (its loop writes nothing more) */
  | { kind: 'abandon_driver' }
  /** abandon and start again at once, remembering that this was a re-attach after a silence */
  | { kind: 'reattach_driver' }
  /** stop a runner job and remove its files; `wait`: before the caller answers */
  | { kind: 'delete_job'; jobId: string; wait: boolean }
  /** keep the runner (container) awake while a job runs */
  | { kind: 'keep_alive' }
  /** the attempt is alive (runner last heard at `at`): the tenant's index may need a fresh timestamp */
  | { kind: 'tenant_heartbeat'; at: number }
  /** the tenant's index row changed (`finish`: the task ended; its slot goes back in the same call) */
  | { kind: 'tell_tenant'; finish: boolean }
  /** hand the slot back without a status change of ours (a grant that came too late) */
  | { kind: 'release_slot' }
  | { kind: 'tell_batch' }
  | { kind: 'close_sockets'; reason: string }
  /** bound the event log and delete expired outputs */
  | { kind: 'housekeeping' };

export interface StepChange {
  index: number;
  status: StepStatus;
  /** the step's own progress, when the move sets it */
  progress?: number;
}

export interface Move {
  /** the status after the move, when it changes (checked against the transitions table) */
  to: TaskStatus | null;
  patch: TaskPatch;
  steps: StepChange[];
  /** every step not yet succeeded goes back to pending, progress 0 (a manual retry) */
  resetUnfinishedSteps: boolean;
  events: NewEvent[];
  effects: Effect[];
}

export type Decision = { ok: true; move: Move } | { ok: false; reason: string };

/** When a queued task's safety net asks for a slot again: a spread derived from its id (pure, stable). */
export function queuedRecheckAt(taskId: string, now: number): number {
  let h = 2166136261;
  for (let i = 0; i < taskId.length; i++) h = Math.imul(h ^ taskId.charCodeAt(i), 16777619);
  return now + QUEUED_RECHECK_MS + ((h >>> 0) % QUEUED_JITTER_MS);
}

/** The runner job of one step in one attempt: known before the runner has accepted it. */
export function jobIdFor(taskId: string, attempt: number, step: number): string {
  return `${taskId}-a${attempt}-s${step}`;
}

const TASK_ENDED = 'task ended';

function emptyMove(): Move {
  return { to: null, patch: {}, steps: [], resetUnfinishedSteps: false, events: [], effects: [] };
}

function reject(reason: string): Decision {
  return { ok: false, reason };
}

function accept(move: Move): Decision {
  return { ok: true, move };
}

/** Overall progress of the steps already done: where a new attempt starts. */
export function resumeProgress(steps: LifecycleState['steps']): number {
  const first = steps.findIndex((s) => s.status !== 'succeeded');
  return overallProgress(
    steps.map((s) => s.op),
    first < 0 ? steps.length : first,
    0,
  );
}

/**
 * What every move into `to` resets, in one place. A new attempt (running from queued or retrying,
 * and a manual retry's queued) starts without a job; an ended attempt forgets its job; only failed
 * and retrying keep an error.
 */
export function resetsFor(to: TaskStatus): TaskPatch {
  switch (to) {
    case 'queued':
      return { jobId: null, jobSeq: 0, stage: null, runAt: null, lastError: null };
    case 'running':
      return { jobId: null, jobSeq: 0, stage: 'starting', runAt: null };
    case 'retrying':
      return { jobId: null, jobSeq: 0, stage: null };
    case 'succeeded':
      return { jobId: null, jobSeq: 0, stage: null, runAt: null, lastError: null, progress: 100 };
    case 'failed':
    case 'canceled':
      return { jobId: null, jobSeq: 0, stage: null, runAt: null };
  }
}

/** A status move: the reset patch, the extra patch, the status event (with progress after the move). */
function statusMove(s: LifecycleState, to: TaskStatus, message: string, extra: TaskPatch = {}): Move {
  const patch: TaskPatch = { ...resetsFor(to), ...extra, message };
  const event: NewEvent = {
    kind: 'status',
    status: to,
    message,
    attempt: patch.attempt ?? s.attempt,
    progress: patch.progress ?? s.progress,
  };
  if ((to === 'failed' || to === 'retrying') && patch.lastError) event.error = patch.lastError;
  if (to === 'retrying' && patch.runAt) event.nextRetryAt = patch.runAt;
  const effects: Effect[] = [{ kind: 'tell_batch' }, { kind: 'tell_tenant', finish: isTerminal(to) }];
  if (isTerminal(to)) effects.push({ kind: 'close_sockets', reason: TASK_ENDED });
  return { ...emptyMove(), to, patch, events: [event], effects };
}

/**
 * The first unfinished step starts with `move` (its step event after the move's own), unless it is
 * running already (an attempt resumed where the last one stopped). What the driver's step_started
 * would write next, written in the same transaction: a slot's grant and the first step's start, a
 * step's end and the next one's start, are one row written, not two.
 */
function startFirstStep(s: LifecycleState, move: Move): Move {
  const index = s.steps.findIndex((st) => st.status !== 'succeeded');
  const step = s.steps[index];
  if (!step || step.status === 'running') return move;
  return {
    ...move,
    patch: { ...move.patch, currentStep: index },
    steps: [...move.steps, { index, status: 'running', progress: 0 }],
    events: [...move.events, { kind: 'step', step: index, status: 'running', op: step.op }],
  };
}

function runningStep(s: LifecycleState): number {
  return s.steps.findIndex((st) => st.status === 'running');
}

/** Put the running step (if any) into `status`, its event first. */
function endRunningStep(s: LifecycleState, move: Move, status: 'failed' | 'canceled'): Move {
  const i = runningStep(s);
  if (i < 0) return move;
  return {
    ...move,
    steps: [{ index: i, status }, ...move.steps],
    events: [{ kind: 'step', step: i, status, op: s.steps[i]!.op }, ...move.events],
  };
}

/**
 * Has the runner been silent past the stall timeout? A watchdog alarm that ran late means the object
 * was starved (a saturated isolate) and may simply not have read what the runner sent; it judges on a
 * punctual tick, unless the silence has gone on far too long to be its own fault.
 */
export function silenceIsStall(now: number, w: WatchdogFacts, stallTimeoutMs: number): boolean {
  const silentMs = now - w.lastContactAt;
  const lateMs = w.dueAt > 0 ? now - w.dueAt : 0;
  return silentMs > stallTimeoutMs && (lateMs < stallTimeoutMs / 2 || silentMs > STARVED_STALL_FACTOR * stallTimeoutMs);
}

/** When the lifecycle wants the alarm next (other sources, such as output expiry, are added by the object). */
export function lifecycleDueAt(s: Pick<LifecycleState, 'status' | 'runAt'>, now: number, stallTimeoutMs: number) {
  switch (s.status) {
    case 'queued':
    case 'retrying':
      return s.runAt ?? now;
    case 'running':
      return now + Math.min(MAX_WATCHDOG_TICK_MS, Math.max(MIN_WATCHDOG_TICK_MS, stallTimeoutMs / 3));
    default:
      return null;
  }
}

/** The attempt failed: a backoff and another attempt when the error and the budget allow, else failed. */
function attemptFailed(s: LifecycleState, error: ErrorBody, now: number, cfg: LifecycleConfig): Move {
  const retryable = isRetryable(error);
  if (retryable && s.attempt < s.maxAttempts) {
    const delay = backoffDelayMs(s.attempt + 1, cfg.retryDelaysMs);
    return statusMove(s, 'retrying', `${error.message}; retrying in ${Math.ceil(delay / 1000)} s`, {
      lastError: { ...error, retryable: true },
      runAt: now + delay,
    });
  }
  const move = statusMove(s, 'failed', `failed: ${error.message}`, { lastError: { ...error, retryable } });
  return endRunningStep(s, move, 'failed');
}

function onAlarm(s: LifecycleState, input: Extract<LifecycleInput, { kind: 'alarm' }>, cfg: LifecycleConfig) {
  const { now, watchdog } = input;
  switch (s.status) {
    case 'queued':
      return accept({ ...emptyMove(), effects: [{ kind: 'acquire_slot' }] });
    case 'retrying': {
      if ((s.runAt ?? 0) > now) return accept(emptyMove());
      const attempt = s.attempt + 1;
      const move = startFirstStep(
        s,
        statusMove(s, 'running', `retrying (attempt ${attempt} of ${s.maxAttempts})`, {
          attempt,
          progress: resumeProgress(s.steps),
        }),
      );
      move.effects.push({ kind: 'start_driver' });
      return accept(move);
    }
    case 'running': {
      // Evicted or restarted mid-job: re-attach to the runner where the log left off.
      if (!watchdog.driving) return accept({ ...emptyMove(), effects: [{ kind: 'start_driver' }] });
      if (!silenceIsStall(now, watchdog, cfg.stallTimeoutMs)) {
        const effects: Effect[] = [
          { kind: 'housekeeping' },
          { kind: 'tenant_heartbeat', at: watchdog.lastContactAt },
          { kind: 'keep_alive' },
        ];
        return accept({ ...emptyMove(), effects });
      }
      const silence = `no word from the media runner for ${Math.round((now - watchdog.lastContactAt) / 1000)} s`;
      if (s.jobId && !watchdog.reattachedAfterStall) {
        // A silent stream may be a dead connection, or this object too busy to read it: re-attach
        // where the log left off. Only a runner that stays silent after that fails the attempt.
        const message = `${silence}; re-attaching`;
        return accept({
          ...emptyMove(),
          patch: { message },
          events: [{ kind: 'log', step: s.currentStep, level: 'warn', message }],
          effects: [{ kind: 'reattach_driver' }],
        });
      }
      const move = attemptFailed(s, { code: 'runner.stalled', message: silence, retryable: true }, now, cfg);
      // Also when the job was never recorded: a frozen runner may still act on the POST later.
      const jobId = s.jobId ?? jobIdFor(s.id, s.attempt, s.currentStep);
      move.effects.unshift({ kind: 'abandon_driver' }, { kind: 'delete_job', jobId, wait: false });
      return accept(move);
    }
    default:
      return accept({ ...emptyMove(), effects: [{ kind: 'housekeeping' }] });
  }
}

/**
 * Decide the move for `input` in state `s`. An input the state does not allow is rejected with a
 * reason (an RPC turns it into task.illegal_transition; a late internal input is simply dropped).
 */
export function decide(s: LifecycleState, input: LifecycleInput, cfg: LifecycleConfig): Decision {
  switch (input.kind) {
    case 'alarm':
      return onAlarm(s, input, cfg);
    case 'slot_granted': {
      if (s.status === 'queued') {
        const move = startFirstStep(s, statusMove(s, 'running', 'starting', { progress: resumeProgress(s.steps) }));
        // the tenant recorded the task running in its index with the grant
        move.effects = move.effects.filter((e) => e.kind !== 'tell_tenant');
        move.effects.push({ kind: 'start_driver' });
        return accept(move);
      }
      // A grant for a task that no longer waits: an ended one gives the slot straight back.
      if (isTerminal(s.status)) return accept({ ...emptyMove(), effects: [{ kind: 'release_slot' }] });
      return accept(emptyMove());
    }
    case 'slot_denied': {
      if (s.status !== 'queued') return reject(`a ${s.status} task is not waiting for a slot`);
      const message = `waiting for a free slot (${cfg.maxConcurrentTasks} run at once)`;
      const move: Move = { ...emptyMove(), patch: { runAt: queuedRecheckAt(s.id, input.now) } };
      // Said once: the place in line changes with every task ahead, and nobody watches that count.
      if (s.message !== message) {
        move.patch.message = message;
        move.events.push({ kind: 'log', step: null, level: 'info', message });
      }
      return accept(move);
    }
    case 'slot_error':
      if (s.status !== 'queued') return reject(`a ${s.status} task is not waiting for a slot`);
      return accept({ ...emptyMove(), patch: { runAt: input.now + SLOT_ERROR_RECHECK_MS } });
    case 'step_started': {
      if (s.status !== 'running') return reject(`a ${s.status} task runs no step`);
      const step = s.steps[input.step];
      if (!step) return reject(`no step ${input.step}`);
      if (step.status === 'running') return accept({ ...emptyMove(), patch: { currentStep: input.step } });
      return accept({
        ...emptyMove(),
        patch: { currentStep: input.step },
        steps: [{ index: input.step, status: 'running', progress: 0 }],
        events: [{ kind: 'step', step: input.step, status: 'running', op: step.op }],
      });
    }
    case 'step_succeeded': {
      if (s.status !== 'running') return reject(`a ${s.status} task runs no step`);
      const step = s.steps[input.step];
      if (!step) return reject(`no step ${input.step}`);
      const ended: Move = {
        ...emptyMove(),
        patch: { jobId: null, jobSeq: 0 },
        steps: [{ index: input.step, status: 'succeeded', progress: 100 }],
        events: [{ kind: 'step', step: input.step, status: 'succeeded', op: step.op }],
        effects: [{ kind: 'delete_job', jobId: input.jobId, wait: false }],
      };
      // what always follows, in the same move (one transaction, one row written): the next step's
      // start, or when this was the last step, the task's success (the driver then has nothing to do)
      const after = s.steps.map((st, i) => (i === input.step ? { ...st, status: 'succeeded' as const } : st));
      if (after.some((st) => st.status !== 'succeeded')) return accept(startFirstStep({ ...s, steps: after }, ended));
      const done = statusMove({ ...s, steps: after }, 'succeeded', 'done');
      return accept({
        ...done,
        patch: { ...ended.patch, ...done.patch },
        steps: ended.steps,
        events: [...ended.events, ...done.events],
        effects: [...ended.effects, ...done.effects],
      });
    }
    case 'steps_done':
      if (s.status !== 'running') return reject(`a ${s.status} task cannot succeed`);
      if (s.steps.some((st) => st.status !== 'succeeded')) return reject('a step is unfinished');
      return accept(statusMove(s, 'succeeded', 'done'));
    case 'attempt_failed': {
      if (s.status !== 'running') return reject(`a ${s.status} task has no attempt running`);
      const move = attemptFailed(s, input.error, input.now, cfg);
      if (input.jobId) move.effects.unshift({ kind: 'delete_job', jobId: input.jobId, wait: false });
      return accept(move);
    }
    case 'cancel': {
      if (s.status === 'canceled') return accept(emptyMove());
      if (!canTransition(s.status, 'canceled')) return reject(`a ${s.status} task cannot be canceled`);
      const move = endRunningStep(s, statusMove(s, 'canceled', 'canceled'), 'canceled');
      const stop: Effect[] = [{ kind: 'abandon_driver' }];
      if (s.jobId) stop.push({ kind: 'delete_job', jobId: s.jobId, wait: true });
      move.effects.unshift(...stop);
      return accept(move);
    }
    case 'retry': {
      if (s.status !== 'failed' && s.status !== 'canceled') return reject(`a ${s.status} task cannot be retried`);
      const attempt = s.attempt + 1;
      const steps = s.steps.map((st) => (st.status === 'succeeded' ? st : { ...st, status: 'pending' as const }));
      const move = statusMove(s, 'queued', 'waiting to start', {
        attempt,
        // the task's own budget again, counted from this attempt
        maxAttempts: attempt + s.attemptsPerRun - 1,
        progress: resumeProgress(steps),
      });
      move.resetUnfinishedSteps = true;
      return accept(move);
    }
  }
}
