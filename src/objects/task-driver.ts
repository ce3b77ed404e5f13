/**
 * The running attempt of one task: runs its unfinished steps in order as runner jobs, turns the
 * runner's events into the task's events (progress, logs, outputs stored in R2), and knows when it
 * last heard from the runner, for the watchdog in TaskObject's alarm.
 *
 * One drive loop at a time. Abandoning it (cancel, stall, delete) bumps a token, so a loop that is
 * still awaiting the runner writes nothing more when it wakes. It decides nothing about the
 * lifecycle: a step's start and end and the attempt's outcome go to the object as lifecycle inputs
 * (`DriverHost.move`), which the object decides and carries out (lib/task-lifecycle.ts).
 */
import { overallProgress } from '../lib/progress.ts';
import { speedFields } from '../lib/speed.ts';
import { jobIdFor, type LifecycleInput } from '../lib/task-lifecycle.ts';
import { Throttle } from '../lib/throttle.ts';
import { ClipyardError } from '../protocol/errors.ts';
import { contentTypeFor } from '../protocol/ops.ts';
import type { RunnerEvent, Stage } from '../protocol/runner.ts';
import type { TaskEvent } from '../protocol/task.ts';
import { mediaLimits, type TaskConfig } from './config.ts';
import { type Runner, runnerFor } from './runner.ts';
import { extraInputs, mainInput } from './step-inputs.ts';
import { runStepJob, storeOutput } from './step-job.ts';
import type { NewEvent, TaskPatch, TaskStore } from './task-store.ts';

/** Progress events reach subscribers at most this often (leading edge + trailing value). */
const PROGRESS_INTERVAL_MS = 50;
const CANCEL_TIMEOUT_MS = 5_000;

type ProgressEvent = Extract<RunnerEvent, { type: 'progress' }>;

/** What the driver needs from its task object. */
export interface DriverHost {
  readonly env: Env;
  readonly ctx: DurableObjectState;
  readonly store: TaskStore;
  config(): TaskConfig;
  /** Append a log or output event (with a patch of the task row) and send it. */
  emit(event: NewEvent, patch?: TaskPatch): TaskEvent;
  /** Append a progress event (written with the next batch, see pending-progress.ts) and send it at once. */
  emitProgress(
    event: Omit<Extract<TaskEvent, { kind: 'progress' }>, 'seq' | 'at'>,
    patch: TaskPatch,
    step: number,
    stepProgress: number,
  ): TaskEvent;
  /** A lifecycle input (a step started or ended, the attempt's outcome); false when it was refused. */
  move(input: LifecycleInput): boolean;
  /** a stage the object performs itself began (storing an output in R2), for the run timeline */
  stageEntered?(step: number, stage: Stage): void;
  /** A drive loop ended (for any reason): the alarm is due again. */
  stopped(): void;
  /** Overall progress moved (for the task's batch). */
  progressed(): void;
  /** The task's output bytes grew (for the tenant's daily quota). */
  storedBytes(size: number): void;
}

export class TaskDriver {
  /** Set when the watchdog re-attached after a silence; cleared by the next word from the runner. */
  reattachedAfterStall = false;
  private lastContact = 0;
  /** Bumped whenever the running job is abandoned, so a stale drive loop stops writing. */
  private token = 0;
  private driving: AbortController | null = null;
  private readonly progress: Throttle<{ token: number; event: ProgressEvent }>;
  private readonly host: DriverHost;

  constructor(host: DriverHost) {
    this.host = host;
    this.progress = new Throttle(PROGRESS_INTERVAL_MS, ({ token, event }) => this.recordProgress(token, event));
  }

  /** Is a drive loop running in this instance (false after an eviction or restart)? */
  get running(): boolean {
    return this.driving !== null;
  }

  /** When the runner was last heard from (or the loop started). */
  get lastContactAt(): number {
    return this.lastContact;
  }

  /** Run the task's unfinished steps, re-attaching to a job the log says was started. */
  start(): void {
    const token = ++this.token;
    const controller = new AbortController();
    this.driving = controller;
    this.lastContact = Date.now();
    const run = this.drive(token, controller.signal)
      .catch((err: unknown) => {
        if (token !== this.token) return;
        const error = err instanceof ClipyardError ? err.toBody() : null;
        this.host.move({
          kind: 'attempt_failed',
          now: Date.now(),
          error: error ?? { code: 'internal', message: `task driver failed: ${String(err)}`, retryable: true },
        });
      })
      .finally(() => {
        if (this.driving === controller) this.driving = null;
        this.host.stopped();
      });
    this.host.ctx.waitUntil(run);
  }

  /** Stop listening to the current job; its loop notices the token change and writes nothing more. */
  abandon(): void {
    this.token++;
    this.progress.cancel();
    this.driving?.abort();
    this.driving = null;
  }

  /** Stop a runner job and remove its files (best effort: a runner that is gone has nothing left). */
  async deleteJob(jobId: string): Promise<void> {
    try {
      const res = await runnerFor(this.host.env, this.host.store.task()?.id ?? 'task').fetch(
        `/jobs/${encodeURIComponent(jobId)}`,
        { method: 'DELETE', signal: AbortSignal.timeout(CANCEL_TIMEOUT_MS) },
      );
      await res.body?.cancel();
    } catch {
      /* the runner is gone: nothing left to stop there */
    }
  }

  private alive(token: number): boolean {
    return token === this.token && this.host.store.task()?.status === 'running';
  }

  private async drive(token: number, signal: AbortSignal): Promise<void> {
    const { store, env } = this.host;
    const runner = runnerFor(env, store.task()!.id);
    for (;;) {
      if (!this.alive(token)) return;
      const t = store.task()!;
      const step = store.steps().find((s) => s.status !== 'succeeded');
      // The last step's end is the task's success (one move, lib/task-lifecycle.ts), which ends this
      // loop above; no unfinished step here means a task written before that (its success not yet moved)
      if (!step) {
        this.progress.flush();
        this.host.move({ kind: 'steps_done', now: Date.now() });
        return;
      }
      // the grant and the previous step's end already started it (same move); otherwise start it now
      if (step.status !== 'running') {
        if (!this.host.move({ kind: 'step_started', now: Date.now(), step: step.index })) return;
      }
      const started = t.jobId !== null;
      const jobId = t.jobId ?? jobIdFor(t.id, t.attempt, step.index);
      const outcome = await runStepJob(
        {
          runner,
          bucket: env.BUCKET,
          jobId,
          step: step.params,
          input: mainInput(t, store.steps(), store.outputs(), step.index),
          extras: extraInputs(t, step.params, step.index, store.outputs()),
          limits: mediaLimits(env),
          started,
          after: t.jobSeq,
          signal,
          onStarted: () => {
            if (!started && this.alive(token)) store.patch({ jobId, jobSeq: 0 });
          },
        },
        {
          onContact: () => {
            if (token !== this.token) return;
            this.lastContact = Date.now();
            this.reattachedAfterStall = false;
          },
          onEvent: (event) => this.onRunnerEvent(token, runner, jobId, step.index, event, signal),
        },
      );
      if (!this.alive(token)) return;
      this.progress.flush();
      if (outcome.kind === 'aborted') return;
      if (outcome.kind === 'error') {
        const recorded = started || store.task()?.jobId != null;
        this.host.move({
          kind: 'attempt_failed',
          now: Date.now(),
          error: outcome.error,
          jobId: recorded ? jobId : null,
        });
        return;
      }
      // the job's files go while the next step starts (its runner slot is already free)
      if (!this.host.move({ kind: 'step_succeeded', now: Date.now(), step: step.index, jobId })) return;
    }
  }

  private async onRunnerEvent(
    token: number,
    runner: Runner,
    jobId: string,
    stepIndex: number,
    event: Exclude<RunnerEvent, { type: 'heartbeat' }>,
    signal: AbortSignal,
  ): Promise<void> {
    if (!this.alive(token)) return;
    const { store, env } = this.host;
    if (event.type === 'progress') {
      this.progress.push({ token, event: { ...event } }, event.at);
      // the runner seq is recorded with the progress row when it is written
      return;
    }
    this.progress.flush();
    if (event.type === 'log') {
      this.host.emit(
        { kind: 'log', step: stepIndex, level: event.level, message: event.message },
        { jobSeq: event.seq },
      );
    } else if (event.type === 'output') {
      const name = this.outputName(stepIndex, event.name);
      const key = `tasks/${store.task()!.id}/${name}`;
      const contentType = event.contentType || contentTypeFor(name);
      // The runner enforces the output limit; this is the backstop for one that did not.
      const { maxOutputBytes } = mediaLimits(env);
      const tooLarge = (bytes: number) =>
        new ClipyardError('job.output_too_large', `output ${name} is ${bytes} bytes; the limit is ${maxOutputBytes}`);
      if (event.size > maxOutputBytes) throw tooLarge(event.size);
      store.patch({ stage: 'storing', message: `saving ${name}` });
      this.host.stageEntered?.(stepIndex, 'storing');
      const size = await storeOutput(runner, env.BUCKET, jobId, event.name, key, contentType, signal, () => {
        if (token === this.token) this.lastContact = Date.now();
      });
      if (size > maxOutputBytes) {
        await env.BUCKET.delete(key);
        throw tooLarge(size);
      }
      this.host.storedBytes(size);
      if (!this.alive(token)) return;
      const now = Date.now();
      store.addOutput({
        name,
        step: stepIndex,
        key,
        size,
        contentType,
        createdAt: now,
        expiresAt: now + this.host.config().outputTtlMs,
      });
      this.host.emit(
        { kind: 'output', step: stepIndex, output: { name, step: stepIndex, size, contentType } },
        { jobSeq: event.seq },
      );
    }
    // done / error: the outcome is handled by drive(), whose move forgets the job (and its seq) at
    // once; a crash before that move re-reads the same outcome from the runner, so no write here.
  }

  /** Record and send one (possibly throttled) progress event, if the job that produced it is still current. */
  private recordProgress(token: number, event: ProgressEvent): void {
    if (!this.alive(token)) return;
    const { store } = this.host;
    const t = store.task()!;
    const steps = store.steps();
    const stepIndex = t.currentStep;
    const stepProgress = Math.max(steps[stepIndex]?.progress ?? 0, Math.min(100, event.progress));
    const overall = Math.max(
      t.progress,
      overallProgress(
        steps.map((s) => s.op),
        stepIndex,
        stepProgress,
      ),
    );
    const message = event.message ?? event.stage;
    const e: Omit<Extract<TaskEvent, { kind: 'progress' }>, 'seq' | 'at'> = {
      kind: 'progress',
      step: stepIndex,
      stage: event.stage,
      progress: overall,
      stepProgress,
      message,
    };
    if (event.bytes !== undefined) e.bytes = event.bytes;
    if (event.totalBytes !== undefined) e.totalBytes = event.totalBytes;
    Object.assign(e, speedFields(event));
    if (event.eta !== undefined) e.eta = event.eta;
    const patch = { progress: overall, stage: event.stage, message, jobSeq: Math.max(t.jobSeq, event.seq) };
    this.host.emitProgress(e, patch, stepIndex, stepProgress);
    this.host.progressed();
  }

  /** Output names are unique per task: a later step with the same file name gets a step prefix. */
  private outputName(stepIndex: number, runnerName: string): string {
    const base = runnerName.replace(/[^\w.-]/g, '_').slice(0, 100) || 'output';
    const existing = this.host.store.output(base);
    return !existing || existing.step === stepIndex ? base : `step${stepIndex + 1}-${base}`;
  }
}
