/**
 * The task lifecycle (src/lib/task-lifecycle.ts) as a table: every status against every input, then
 * the rules every accepted move must keep, then the moves that carry a decision of their own (the
 * retry budget, backoff or failure, the watchdog's stall verdicts, the slot answers).
 */
import { describe, expect, it } from 'vitest';
import {
  decide,
  type Effect,
  type LifecycleConfig,
  type LifecycleInput,
  type LifecycleInputKind,
  type LifecycleState,
  lifecycleDueAt,
  QUEUED_JITTER_MS,
  QUEUED_RECHECK_MS,
  queuedRecheckAt,
  SLOT_ERROR_RECHECK_MS,
} from '../../src/lib/task-lifecycle.ts';
import { canTransition, isTerminal, TASK_STATUSES, type TaskStatus } from '../../src/lib/task-status.ts';
import type { StepStatus } from '../../src/protocol/task.ts';

const NOW = 1_000_000;
const CFG: LifecycleConfig = { retryDelaysMs: [2_000, 5_000], stallTimeoutMs: 30_000, maxConcurrentTasks: 4 };
const LIVE = { driving: true, lastContactAt: NOW - 1_000, dueAt: NOW, reattachedAfterStall: false };

/** A two-step task (download, audio) in `status`, the first step where that status leaves it. */
function stateIn(status: TaskStatus, over: Partial<LifecycleState> = {}): LifecycleState {
  const first: StepStatus =
    status === 'running' || status === 'retrying'
      ? 'running'
      : status === 'succeeded'
        ? 'succeeded'
        : status === 'queued'
          ? 'pending'
          : status;
  return {
    id: 't1',
    status,
    progress: status === 'succeeded' ? 100 : status === 'queued' ? 0 : 12,
    message: '',
    attempt: 1,
    maxAttempts: 3,
    attemptsPerRun: 3,
    runAt: status === 'retrying' ? NOW - 1 : null,
    currentStep: 0,
    jobId: status === 'running' ? 't1-a1-s0' : null,
    steps: [
      { op: 'download', status: first },
      { op: 'audio', status: status === 'succeeded' ? 'succeeded' : 'pending' },
    ],
    ...over,
  };
}

const INPUTS: Record<LifecycleInputKind, LifecycleInput> = {
  alarm: { kind: 'alarm', now: NOW, watchdog: LIVE },
  slot_granted: { kind: 'slot_granted', now: NOW },
  slot_denied: { kind: 'slot_denied', now: NOW },
  slot_error: { kind: 'slot_error', now: NOW },
  step_started: { kind: 'step_started', now: NOW, step: 1 },
  step_succeeded: { kind: 'step_succeeded', now: NOW, step: 0, jobId: 't1-a1-s0' },
  steps_done: { kind: 'steps_done', now: NOW },
  attempt_failed: {
    kind: 'attempt_failed',
    now: NOW,
    error: { code: 'runner.crashed', message: 'x', retryable: true },
  },
  cancel: { kind: 'cancel', now: NOW },
  retry: { kind: 'retry', now: NOW },
};

/**
 * What each input does in each status: the status it moves to, '=' accepted without a status change,
 * 'x' refused. steps_done from running is refused here because the fixture's steps are unfinished;
 * its success is its own test below.
 */
const TABLE: Record<TaskStatus, Record<LifecycleInputKind, TaskStatus | '=' | 'x'>> = {
  queued: {
    alarm: '=',
    slot_granted: 'running',
    slot_denied: '=',
    slot_error: '=',
    step_started: 'x',
    step_succeeded: 'x',
    steps_done: 'x',
    attempt_failed: 'x',
    cancel: 'canceled',
    retry: 'x',
  },
  running: {
    alarm: '=',
    slot_granted: '=',
    slot_denied: 'x',
    slot_error: 'x',
    step_started: '=',
    step_succeeded: '=',
    steps_done: 'x',
    attempt_failed: 'retrying',
    cancel: 'canceled',
    retry: 'x',
  },
  retrying: {
    alarm: 'running',
    slot_granted: '=',
    slot_denied: 'x',
    slot_error: 'x',
    step_started: 'x',
    step_succeeded: 'x',
    steps_done: 'x',
    attempt_failed: 'x',
    cancel: 'canceled',
    retry: 'x',
  },
  succeeded: {
    alarm: '=',
    slot_granted: '=',
    slot_denied: 'x',
    slot_error: 'x',
    step_started: 'x',
    step_succeeded: 'x',
    steps_done: 'x',
    attempt_failed: 'x',
    cancel: 'x',
    retry: 'x',
  },
  failed: {
    alarm: '=',
    slot_granted: '=',
    slot_denied: 'x',
    slot_error: 'x',
    step_started: 'x',
    step_succeeded: 'x',
    steps_done: 'x',
    attempt_failed: 'x',
    cancel: 'x',
    retry: 'queued',
  },
  canceled: {
    alarm: '=',
    slot_granted: '=',
    slot_denied: 'x',
    slot_error: 'x',
    step_started: 'x',
    step_succeeded: 'x',
    steps_done: 'x',
    attempt_failed: 'x',
    cancel: '=',
    retry: 'queued',
  },
};

const kinds = (effects: readonly Effect[]) => effects.map((e) => e.kind);

describe('lifecycle table: every status x every input', () => {
  for (const status of TASK_STATUSES) {
    for (const kind of Object.keys(INPUTS) as LifecycleInputKind[]) {
      const expected = TABLE[status][kind];
      it(`${status} + ${kind} -> ${expected}`, () => {
        const d = decide(stateIn(status), INPUTS[kind], CFG);
        if (expected === 'x') {
          expect(d.ok).toBe(false);
          return;
        }
        expect(d.ok).toBe(true);
        if (!d.ok) return;
        const { move } = d;
        expect(move.to).toBe(expected === '=' ? null : expected);
        if (move.to === null) {
          expect(move.events.filter((e) => e.kind === 'status')).toEqual([]);
          return;
        }
        // a status move is legal, says so in exactly one status event, with the progress after it;
        // after it come only the starts of steps the move begins (a grant starts the first step)
        expect(canTransition(status, move.to)).toBe(true);
        const statusEvents = move.events.filter((e) => e.kind === 'status');
        expect(statusEvents).toHaveLength(1);
        const at = move.events.findIndex((e) => e.kind === 'status');
        expect(move.events[at]).toMatchObject({ kind: 'status', status: move.to });
        for (const e of move.events.slice(at + 1)) expect(e).toMatchObject({ kind: 'step', status: 'running' });
        expect(statusEvents[0]).toHaveProperty('progress', move.patch.progress ?? stateIn(status).progress);
        // every move into a new status forgets the job it had
        expect(move.patch).toMatchObject({ jobId: null, jobSeq: 0 });
        expect(kinds(move.effects)).toContain('tell_batch');
        if (isTerminal(move.to)) {
          expect(move.effects).toContainEqual({ kind: 'tell_tenant', finish: true });
          expect(kinds(move.effects)).toContain('close_sockets');
          expect(move.patch.stage).toBeNull();
        } else {
          expect(kinds(move.effects)).not.toContain('close_sockets');
        }
      });
    }
  }
});

describe('lifecycle moves with a decision of their own', () => {
  it('a manual retry grants the task its own attempt budget again, not the server default', () => {
    const s = stateIn('failed', { attempt: 1, maxAttempts: 1, attemptsPerRun: 1 });
    const d = decide(s, INPUTS.retry, CFG);
    expect(d.ok && d.move.patch).toMatchObject({ attempt: 2, maxAttempts: 2, lastError: null, runAt: null });
    const twice = decide(stateIn('canceled', { attempt: 4, maxAttempts: 5, attemptsPerRun: 2 }), INPUTS.retry, CFG);
    expect(twice.ok && twice.move.patch).toMatchObject({ attempt: 5, maxAttempts: 6 });
    expect(twice.ok && twice.move.resetUnfinishedSteps).toBe(true);
  });

  it('a manual retry and a new attempt start from the progress of the steps already done', () => {
    const s = stateIn('failed', {
      progress: 70,
      steps: [
        { op: 'download', status: 'succeeded' },
        { op: 'audio', status: 'failed' },
      ],
    });
    const d = decide(s, INPUTS.retry, CFG);
    const progress = d.ok ? d.move.patch.progress : -1;
    expect(progress).toBeGreaterThan(0);
    expect(progress).toBeLessThan(70);
    expect(d.ok && d.move.events.at(-1)).toMatchObject({ kind: 'status', status: 'queued', progress });
  });

  it('a failed attempt backs off while attempts remain, then fails the task and its running step', () => {
    const error = { code: 'runner.crashed' as const, message: 'gone', retryable: true };
    const retry = decide(stateIn('running', { attempt: 1 }), { kind: 'attempt_failed', now: NOW, error }, CFG);
    expect(retry.ok && retry.move.to).toBe('retrying');
    expect(retry.ok && retry.move.patch.runAt).toBe(NOW + 2_000);
    expect(retry.ok && retry.move.events.at(-1)).toMatchObject({ nextRetryAt: NOW + 2_000, error });
    const last = decide(stateIn('running', { attempt: 3 }), { kind: 'attempt_failed', now: NOW, error }, CFG);
    expect(last.ok && last.move.to).toBe('failed');
    expect(last.ok && last.move.steps).toEqual([{ index: 0, status: 'failed' }]);
    expect(last.ok && last.move.events.map((e) => e.kind)).toEqual(['step', 'status']);
    const corrupt = { code: 'media.corrupt' as const, message: 'bad', retryable: true };
    const never = decide(stateIn('running'), { kind: 'attempt_failed', now: NOW, error: corrupt }, CFG);
    expect(never.ok && never.move.to).toBe('failed');
    expect(never.ok && never.move.patch.lastError).toEqual({ ...corrupt, retryable: false });
  });

  it('cancel stops the job before answering and marks the running step canceled', () => {
    const d = decide(stateIn('running'), INPUTS.cancel, CFG);
    expect(d.ok && d.move.effects.slice(0, 2)).toEqual([
      { kind: 'abandon_driver' },
      { kind: 'delete_job', jobId: 't1-a1-s0', wait: true },
    ]);
    expect(d.ok && d.move.steps).toEqual([{ index: 0, status: 'canceled' }]);
  });

  it('a grant starts the first unfinished step in the same move, after the status event', () => {
    const d = decide(stateIn('queued'), INPUTS.slot_granted, CFG);
    expect(d.ok && d.move.events.map((e) => [e.kind, 'status' in e ? e.status : null])).toEqual([
      ['status', 'running'],
      ['step', 'running'],
    ]);
    expect(d.ok && d.move.steps).toEqual([{ index: 0, status: 'running', progress: 0 }]);
    expect(d.ok && d.move.patch.currentStep).toBe(0);
    expect(d.ok && kinds(d.move.effects)).toContain('start_driver');
    // a retried task whose first step is done starts at its second
    const resumed = stateIn('queued', {
      steps: [
        { op: 'download', status: 'succeeded' },
        { op: 'audio', status: 'pending' },
      ],
    });
    const r = decide(resumed, INPUTS.slot_granted, CFG);
    expect(r.ok && r.move.events.at(-1)).toMatchObject({ kind: 'step', step: 1, status: 'running', op: 'audio' });
    expect(r.ok && r.move.patch.currentStep).toBe(1);
    // an attempt resumed with its step still running starts no step again
    const again = decide(stateIn('retrying'), INPUTS.alarm, CFG);
    expect(again.ok && again.move.events.map((e) => e.kind)).toEqual(['status']);
  });

  it("a step's end starts the next step, or ends the task succeeded, in the same move", () => {
    const next = decide(stateIn('running'), INPUTS.step_succeeded, CFG);
    expect(next.ok && next.move.to).toBeNull();
    expect(next.ok && next.move.steps).toEqual([
      { index: 0, status: 'succeeded', progress: 100 },
      { index: 1, status: 'running', progress: 0 },
    ]);
    expect(next.ok && next.move.events).toEqual([
      { kind: 'step', step: 0, status: 'succeeded', op: 'download' },
      { kind: 'step', step: 1, status: 'running', op: 'audio' },
    ]);
    expect(next.ok && next.move.patch).toMatchObject({ currentStep: 1, jobId: null, jobSeq: 0 });
    const last = stateIn('running', {
      currentStep: 1,
      jobId: 't1-a1-s1',
      steps: [
        { op: 'download', status: 'succeeded' },
        { op: 'audio', status: 'running' },
      ],
    });
    const d = decide(last, { kind: 'step_succeeded', now: NOW, step: 1, jobId: 't1-a1-s1' }, CFG);
    expect(d.ok && d.move.to).toBe('succeeded');
    expect(d.ok && d.move.steps).toEqual([{ index: 1, status: 'succeeded', progress: 100 }]);
    expect(d.ok && d.move.events.map((e) => [e.kind, 'status' in e ? e.status : null])).toEqual([
      ['step', 'succeeded'],
      ['status', 'succeeded'],
    ]);
    expect(d.ok && d.move.events.at(-1)).toMatchObject({ progress: 100 });
    expect(d.ok && d.move.patch).toMatchObject({ progress: 100, jobId: null, jobSeq: 0, stage: null });
    expect(d.ok && d.move.effects).toEqual([
      { kind: 'delete_job', jobId: 't1-a1-s1', wait: false },
      { kind: 'tell_batch' },
      { kind: 'tell_tenant', finish: true },
      { kind: 'close_sockets', reason: 'task ended' },
    ]);
  });

  it('succeeds only when every step has, at 100', () => {
    const done = stateIn('running', {
      steps: [
        { op: 'download', status: 'succeeded' },
        { op: 'audio', status: 'succeeded' },
      ],
    });
    const d = decide(done, INPUTS.steps_done, CFG);
    expect(d.ok && d.move.to).toBe('succeeded');
    expect(d.ok && d.move.patch.progress).toBe(100);
  });

  it('the watchdog re-attaches a silent job once, then fails the attempt; a lost drive loop is restarted', () => {
    const silent = { ...LIVE, lastContactAt: NOW - 31_000 };
    const first = decide(stateIn('running'), { kind: 'alarm', now: NOW, watchdog: silent }, CFG);
    expect(first.ok && kinds(first.move.effects)).toEqual(['reattach_driver']);
    expect(first.ok && first.move.events).toMatchObject([{ kind: 'log', level: 'warn' }]);
    const again = decide(
      stateIn('running'),
      { kind: 'alarm', now: NOW, watchdog: { ...silent, reattachedAfterStall: true } },
      CFG,
    );
    expect(again.ok && again.move.to).toBe('retrying');
    expect(again.ok && again.move.effects.slice(0, 2)).toEqual([
      { kind: 'abandon_driver' },
      { kind: 'delete_job', jobId: 't1-a1-s0', wait: false },
    ]);
    // a late (starved) alarm does not call a short silence a stall
    const late = { ...silent, dueAt: NOW - 20_000 };
    const starved = decide(stateIn('running'), { kind: 'alarm', now: NOW, watchdog: late }, CFG);
    expect(starved.ok && kinds(starved.move.effects)).toContain('keep_alive');
    const evicted = decide(stateIn('running'), { kind: 'alarm', now: NOW, watchdog: { ...LIVE, driving: false } }, CFG);
    expect(evicted.ok && kinds(evicted.move.effects)).toEqual(['start_driver']);
  });

  it('a waiting task says it waits once, not at every change of its place in line', () => {
    const first = decide(stateIn('queued'), INPUTS.slot_denied, CFG);
    expect(first.ok && first.move.events).toHaveLength(1);
    expect(first.ok && first.move.patch.runAt).toBe(queuedRecheckAt(stateIn('queued').id, NOW));
    const message = first.ok ? (first.move.patch.message ?? '') : '';
    const later = decide(stateIn('queued', { message }), { kind: 'slot_denied', now: NOW }, CFG);
    expect(later.ok && later.move.events).toEqual([]);
    const err = decide(stateIn('queued'), INPUTS.slot_error, CFG);
    expect(err.ok && err.move.patch.runAt).toBe(NOW + SLOT_ERROR_RECHECK_MS);
  });

  it("a waiting task's safety net is minutes away, spread over tasks that queued together", () => {
    const ats = Array.from({ length: 200 }, (_, i) => queuedRecheckAt(`task${i}`, NOW));
    for (const at of ats) {
      expect(at).toBeGreaterThanOrEqual(NOW + QUEUED_RECHECK_MS);
      expect(at).toBeLessThan(NOW + QUEUED_RECHECK_MS + QUEUED_JITTER_MS);
    }
    expect(queuedRecheckAt('task7', NOW)).toBe(ats[7]);
    // spread: no minute of the jitter window gets more than a fifth of them
    const perMinute = new Map<number, number>();
    for (const at of ats) {
      const m = Math.floor((at - NOW - QUEUED_RECHECK_MS) / 60_000);
      perMinute.set(m, (perMinute.get(m) ?? 0) + 1);
    }
    expect(perMinute.size).toBe(QUEUED_JITTER_MS / 60_000);
    expect(Math.max(...perMinute.values())).toBeLessThan(ats.length / 5 + 15);
  });

  it('a slot granted too late goes straight back', () => {
    for (const status of ['succeeded', 'failed', 'canceled'] as const) {
      const d = decide(stateIn(status), INPUTS.slot_granted, CFG);
      expect(d.ok && kinds(d.move.effects)).toEqual(['release_slot']);
    }
  });

  it('the alarm time follows the stored state', () => {
    expect(lifecycleDueAt({ status: 'queued', runAt: null }, NOW, 30_000)).toBe(NOW);
    expect(lifecycleDueAt({ status: 'queued', runAt: NOW + 5 }, NOW, 30_000)).toBe(NOW + 5);
    expect(lifecycleDueAt({ status: 'retrying', runAt: NOW + 9 }, NOW, 30_000)).toBe(NOW + 9);
    expect(lifecycleDueAt({ status: 'running', runAt: null }, NOW, 30_000)).toBe(NOW + 10_000);
    expect(lifecycleDueAt({ status: 'running', runAt: null }, NOW, 600)).toBe(NOW + 250);
    for (const status of ['succeeded', 'failed', 'canceled'] as const) {
      expect(lifecycleDueAt({ status, runAt: null }, NOW, 30_000)).toBeNull();
    }
  });
});
