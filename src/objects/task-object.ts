/**
 * TaskObject: one Durable Object per task, the single source of truth for its state and progress.
 *
 * The Worker calls its RPC methods (create, get, cancel, retry, remove, outputFor); its fetch handles
 * only event subscriptions (WebSocket upgrade, or SSE). Work is driven by the object's one alarm:
 * it starts queued work, waits out retry backoffs, watches running jobs for stalls (re-attaching after
 * an eviction), and expires outputs. The running step itself is a runner job whose event stream the
 * object pulls (see step-job.ts).
 */
import { DurableObject } from 'cloudflare:workers';
import { signLink } from '../lib/links.ts';
import { overallProgress } from '../lib/progress.ts';
import { backoffDelayMs, isRetryable } from '../lib/retry-policy.ts';
import { isTerminal } from '../lib/task-status.ts';
import { Throttle } from '../lib/throttle.ts';
import { ClipyardError, type ErrorBody, rpcErrors } from '../protocol/errors.ts';
import { contentTypeFor } from '../protocol/ops.ts';
import type { RunnerEvent } from '../protocol/runner.ts';
import type { CreateTaskBody, TaskEvent, TaskSnapshot } from '../protocol/task.ts';
import { BatchReporter, childReportOf } from './batch-report.ts';
import { linkSecrets, mediaLimits, socketConfig, type TaskConfig, taskConfig } from './config.ts';
import { type Runner, runnerFor } from './runner.ts';
import { dropIdleSockets } from './socket-guard.ts';
import { extraInputs, mainInput } from './step-inputs.ts';
import { runStepJob, type StepInput, storeOutput } from './step-job.ts';
import { Subscribers } from './subscribers.ts';
import { migrate } from './task-schema.ts';
import { TaskSockets } from './task-sockets.ts';
import { type NewEvent, TaskStore } from './task-store.ts';
import type { TaskIndexEntry } from './tenant-object.ts';

/** Progress events reach subscribers at most this often (leading edge + trailing value). */
const PROGRESS_INTERVAL_MS = 50;
/** The watchdog never sleeps longer than this while a job runs. */
const MAX_WATCHDOG_TICK_MS = 10_000;
/** A starved object (late alarms) still calls a silence this many stall timeouts long a stall. */
const STARVED_STALL_FACTOR = 3;
const CANCEL_TIMEOUT_MS = 5_000;
/** A queued task without a slot looks again this often, in case a wake-up was lost. */
const QUEUED_RECHECK_MS = 30_000;

/** The runner job of one step in one attempt: known before the runner has accepted it. */
function jobIdFor(taskId: string, attempt: number, step: number): string {
  return `${taskId}-a${attempt}-s${step}`;
}

export interface CreateTaskInit {
  id: string;
  tenant: string;
  body: CreateTaskBody;
  /** R2 key of an upload or another task's output, resolved by the Worker. */
  inputKey: string | null;
  bodyHash: string;
  origin: string;
  /** the batch this task is created in (it reports its status and progress there) */
  batch?: string;
}

type ProgressEvent = Extract<RunnerEvent, { type: 'progress' }>;

export class TaskObject extends DurableObject<Env> {
  private readonly store: TaskStore;
  private readonly sockets: TaskSockets;
  private readonly batch: BatchReporter;
  /** Bumped whenever the running job is abandoned, so a stale drive loop stops writing. */
  private token = 0;
  private driving: AbortController | null = null;
  private lastContactAt = 0;
  /** Set when the watchdog re-attached after a silence; cleared by the next word from the runner. */
  private reattachedAfterStall = false;
  /** When the watchdog's alarm was due, to tell how late it ran. */
  private watchdogDueAt = 0;
  private readonly progress: Throttle<{ token: number; event: ProgressEvent }>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new TaskStore(ctx.storage);
    this.sockets = new TaskSockets(ctx);
    this.progress = new Throttle(PROGRESS_INTERVAL_MS, ({ token, event }) => this.recordProgress(token, event));
    this.batch = new BatchReporter(ctx, env, () => childReportOf(this.store));
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage));
  }

  private get config(): TaskConfig {
    return taskConfig(this.env);
  }

  // ---- RPC (public methods; errors travel encoded, see rpcErrors) ------------------------------

  async create(init: CreateTaskInit) {
    return rpcErrors(() => this.createImpl(init));
  }

  async get(tenant: string, origin: string) {
    return rpcErrors(() => this.getImpl(tenant, origin));
  }

  async cancel(tenant: string, origin: string) {
    return rpcErrors(() => this.cancelImpl(tenant, origin));
  }

  async retry(tenant: string, origin: string) {
    return rpcErrors(() => this.retryImpl(tenant, origin));
  }

  async remove(tenant: string) {
    return rpcErrors(() => this.removeImpl(tenant));
  }

  async outputLink(tenant: string, name: string, origin: string) {
    return rpcErrors(() => this.outputLinkImpl(tenant, name, origin));
  }

  /** Where this task stands, for the batch it belongs to (null once the task is gone). */
  async batchReport() {
    return childReportOf(this.store)?.report ?? null;
  }

  async outputKey(tenant: string, name: string) {
    return rpcErrors(() => this.outputKeyImpl(tenant, name));
  }

  /**
   * Create the task, or return the existing one for the same id (an Idempotency-Key retry).
   * A different body under the same key is a conflict.
   */
  private async createImpl(init: CreateTaskInit): Promise<{ snapshot: TaskSnapshot; created: boolean }> {
    const existing = this.store.task();
    if (existing) {
      if (existing.tenant !== init.tenant || existing.bodyHash !== init.bodyHash) {
        throw new ClipyardError('task.exists', 'this Idempotency-Key was already used for a different task', {
          status: 409,
        });
      }
      return { snapshot: await this.snapshot(init.origin), created: false };
    }
    const now = Date.now();
    this.store.create({
      id: init.id,
      tenant: init.tenant,
      input: init.body.input,
      inputKey: init.inputKey,
      steps: init.body.steps,
      maxAttempts: init.body.maxAttempts ?? this.config.maxAttempts,
      label: init.body.label ?? null,
      bodyHash: init.bodyHash,
      batchId: init.batch ?? null,
      now,
    });
    this.reportToTenant();
    // The work starts from the alarm, after this call has answered.
    await this.ctx.storage.setAlarm(now);
    return { snapshot: await this.snapshot(init.origin), created: true };
  }

  /** The current snapshot, with fresh signed links for the outputs. */
  private async getImpl(tenant: string, origin: string): Promise<TaskSnapshot> {
    this.store.require(tenant);
    return this.snapshot(origin);
  }

  /** Stop the runner's processes and end the task `canceled`. */
  private async cancelImpl(tenant: string, origin: string): Promise<TaskSnapshot> {
    const t = this.store.require(tenant);
    if (t.status === 'canceled') return this.snapshot(origin);
    if (isTerminal(t.status)) {
      throw new ClipyardError('task.illegal_transition', `a ${t.status} task cannot be canceled`, { status: 409 });
    }
    this.abandonJob();
    if (t.jobId) await this.deleteRunnerJob(t.jobId);
    const step = this.store.steps().find((s) => s.status === 'running');
    const now = Date.now();
    if (step) {
      this.store.setStep(step.index, 'canceled', undefined, now);
      this.emit({ kind: 'step', step: step.index, status: 'canceled', op: step.op });
    }
    this.emitStatus('canceled', 'canceled', { jobId: null, jobSeq: 0, stage: null });
    this.sockets.closeAll('task ended');
    await this.scheduleAlarm();
    return this.snapshot(origin);
  }

  /** Run a failed or canceled task again, from its first unfinished step. */
  private async retryImpl(tenant: string, origin: string): Promise<TaskSnapshot> {
    const t = this.store.require(tenant);
    if (t.status !== 'failed' && t.status !== 'canceled') {
      throw new ClipyardError('task.illegal_transition', `a ${t.status} task cannot be retried`, { status: 409 });
    }
    this.store.resetUnfinishedSteps();
    const attempt = t.attempt + 1;
    this.emitStatus('queued', 'waiting to start', {
      attempt,
      maxAttempts: attempt + this.config.maxAttempts - 1,
      jobId: null,
      jobSeq: 0,
      lastError: null,
      runAt: null,
      progress: this.resumeProgress(),
      stage: null,
    });
    await this.ctx.storage.setAlarm(Date.now());
    return this.snapshot(origin);
  }

  /** Delete outputs from R2, stop any work, close subscribers and forget the task. */
  private async removeImpl(tenant: string): Promise<void> {
    const t = this.store.require(tenant);
    this.abandonJob();
    if (t.jobId && !isTerminal(t.status)) await this.deleteRunnerJob(t.jobId);
    const keys = this.store.outputs().map((o) => o.key);
    if (keys.length > 0) await this.env.BUCKET.delete(keys);
    this.sockets.closeAll('task deleted');
    await this.env.TENANTS.getByName(t.tenant).forget(t.id);
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    migrate(this.ctx.storage);
  }

  /** A fresh signed link for one output, or output.not_found. */
  private async outputLinkImpl(tenant: string, name: string, origin: string): Promise<string> {
    this.store.require(tenant);
    const o = this.store.output(name);
    if (!o) throw new ClipyardError('output.not_found', `this task has no output named ${name}`, { status: 404 });
    return (await this.sign(o.key, origin)) ?? '';
  }

  /** The R2 key of an output, for chaining it into another task of the same tenant. */
  private async outputKeyImpl(tenant: string, name: string): Promise<{ key: string; contentType: string }> {
    this.store.require(tenant);
    const o = this.store.output(name);
    if (!o) throw new ClipyardError('output.not_found', `that task has no output named ${name}`, { status: 404 });
    return { key: o.key, contentType: o.contentType };
  }

  /** Asked by the tenant before it reclaims a slot: is this task still queued, running or retrying? */
  async needsSlot(): Promise<boolean> {
    const t = this.store.task();
    return t !== null && !isTerminal(t.status);
  }

  /** A slot freed up: look again now. */
  async wake(): Promise<void> {
    if (this.store.task()?.status === 'queued') await this.ctx.storage.setAlarm(Date.now());
  }

  /**
   * Does this task still own an R2 object (a live, unexpired output)? Asked by the cron sweep;
   * a task that no longer exists owns nothing.
   */
  async ownsKey(key: string, now: number): Promise<boolean> {
    const t = this.store.task();
    if (!t) return false;
    return this.store.outputs().some((o) => o.key === key && o.expiresAt > now);
  }

  // ---- subscriptions ----------------------------------------------------------------------------

  /** WebSocket upgrade or SSE stream; the Worker has authenticated and set x-clipyard-tenant. */
  override async fetch(request: Request): Promise<Response> {
    const tenant = request.headers.get('x-clipyard-tenant') ?? '';
    const t = this.store.task();
    if (!t || t.tenant !== tenant) {
      const body = { error: { code: 'task.not_found', message: 'no such task', retryable: false } };
      return Response.json(body, { status: 404 });
    }
    const after = Subscribers.afterOf(request);
    const origin = request.headers.get('x-clipyard-origin') ?? new URL(request.url).origin;
    // Sign links first (async); then read snapshot and replay in one synchronous turn.
    const urls = await this.outputUrls(origin);
    const snapshot = this.store.snapshot(urls)!;
    const replay = this.store.eventsAfter(after);
    const ended = isTerminal(snapshot.status);
    return this.sockets.subscribe(request, snapshot, replay, ended);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.sockets.onClientMessage(ws, message);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.sockets.onClientClose(ws, code, reason);
  }

  // ---- the alarm: start, watch, retry, expire ---------------------------------------------------

  override async alarm(): Promise<void> {
    const t = this.store.task();
    if (!t) return;
    const now = Date.now();
    const cfg = this.config;
    dropIdleSockets(this.ctx, now, socketConfig(this.env).idleTimeoutMs);
    if (t.status === 'queued') {
      const grant = await this.env.TENANTS.getByName(t.tenant).acquire(t.id, cfg.maxConcurrentTasks);
      const now2 = this.store.task();
      if (now2?.status !== 'queued') {
        if (grant.granted) this.releaseSlot();
      } else if (grant.granted) {
        this.emitStatus('running', 'starting', { stage: 'starting' });
        this.startDrive();
      } else {
        const message = `waiting for a free slot (${grant.ahead} ahead, ${cfg.maxConcurrentTasks} run at once)`;
        if (now2.message !== message) this.emit({ kind: 'log', step: null, level: 'info', message }, { message });
        // The tenant wakes us when a slot frees; this later look is only a safety net.
        await this.ctx.storage.setAlarm(Date.now() + QUEUED_RECHECK_MS);
        return;
      }
    } else if (t.status === 'retrying' && (t.runAt ?? 0) <= now) {
      this.emitStatus('running', `retrying (attempt ${t.attempt + 1} of ${t.maxAttempts})`, {
        attempt: t.attempt + 1,
        jobId: null,
        jobSeq: 0,
        runAt: null,
        progress: this.resumeProgress(),
        stage: 'starting',
      });
      this.startDrive();
    } else if (t.status === 'running') {
      if (!this.driving) {
        // Evicted or restarted mid-job: re-attach to the runner where the log left off.
        this.startDrive();
      } else if (this.silenceIsStall(now, cfg.stallTimeoutMs)) {
        const silence = `no word from the media runner for ${Math.round((now - this.lastContactAt) / 1000)} s`;
        this.abandonJob();
        if (t.jobId && !this.reattachedAfterStall) {
          // A silent stream may be a dead connection, or this object too busy to read it: re-attach
          // where the log left off. Only a runner that stays silent after that fails the attempt.
          this.reattachedAfterStall = true;
          const message = `${silence}; re-attaching`;
          this.emit({ kind: 'log', step: t.currentStep, level: 'warn', message }, { message });
          this.startDrive();
        } else {
          this.reattachedAfterStall = false;
          // Also when the job was never recorded: a frozen runner may still act on the POST later.
          void this.deleteRunnerJob(t.jobId ?? jobIdFor(t.id, t.attempt, t.currentStep));
          this.failAttempt({ code: 'runner.stalled', message: silence, retryable: true });
        }
      } else {
        this.store.compact();
        this.reportToTenant(this.lastContactAt);
        await runnerFor(this.env, t.id)
          .keepAlive()
          .catch(() => {});
      }
    } else if (isTerminal(t.status)) {
      this.store.compact();
      await this.expireOutputs(now);
    }
    await this.scheduleAlarm();
  }

  /**
   * Has the runner been silent past the stall timeout? A watchdog alarm that ran late means this
   * object was starved (a saturated isolate) and may simply not have read what the runner sent; it
   * judges on a punctual tick, unless the silence has gone on far too long to be its own fault.
   */
  private silenceIsStall(now: number, stallTimeoutMs: number): boolean {
    const silentMs = now - this.lastContactAt;
    const lateMs = this.watchdogDueAt > 0 ? now - this.watchdogDueAt : 0;
    return (
      silentMs > stallTimeoutMs && (lateMs < stallTimeoutMs / 2 || silentMs > STARVED_STALL_FACTOR * stallTimeoutMs)
    );
  }

  /** One alarm, its time computed from stored state. */
  private async scheduleAlarm(): Promise<void> {
    const t = this.store.task();
    if (!t) return;
    const now = Date.now();
    let at: number | null = null;
    if (t.status === 'queued') at = now;
    else if (t.status === 'retrying') at = t.runAt ?? now;
    else if (t.status === 'running') {
      at = now + Math.min(MAX_WATCHDOG_TICK_MS, Math.max(250, this.config.stallTimeoutMs / 3));
      this.watchdogDueAt = at;
    } else {
      const expiries = this.store.outputs().map((o) => o.expiresAt);
      if (expiries.length > 0) at = Math.min(...expiries);
    }
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(at);
  }

  private async expireOutputs(now: number): Promise<void> {
    const expired = this.store.outputs().filter((o) => o.expiresAt <= now);
    if (expired.length === 0) return;
    await this.env.BUCKET.delete(expired.map((o) => o.key));
    for (const o of expired) {
      this.store.removeOutput(o.name);
      this.emit({ kind: 'log', step: o.step, level: 'info', message: `output ${o.name} expired and was deleted` });
    }
  }

  // ---- driving the steps ------------------------------------------------------------------------

  private startDrive(): void {
    const token = ++this.token;
    const controller = new AbortController();
    this.driving = controller;
    this.lastContactAt = Date.now();
    const run = this.drive(token, controller.signal)
      .catch((err: unknown) => {
        if (token !== this.token) return;
        const error = err instanceof ClipyardError ? err.toBody() : null;
        this.failAttempt(error ?? { code: 'internal', message: `task driver failed: ${String(err)}`, retryable: true });
      })
      .finally(() => {
        if (this.driving === controller) this.driving = null;
        void this.scheduleAlarm();
      });
    this.ctx.waitUntil(run);
  }

  /** Stop listening to the current job; its loop notices the token change and writes nothing more. */
  private abandonJob(): void {
    this.token++;
    this.progress.cancel();
    this.driving?.abort();
    this.driving = null;
  }

  private alive(token: number): boolean {
    return token === this.token && this.store.task()?.status === 'running';
  }

  private async drive(token: number, signal: AbortSignal): Promise<void> {
    const runner = runnerFor(this.env, this.store.task()!.id);
    for (;;) {
      if (!this.alive(token)) return;
      const t = this.store.task()!;
      const steps = this.store.steps();
      const step = steps.find((s) => s.status !== 'succeeded');
      if (!step) {
        this.progress.flush();
        this.emitStatus('succeeded', 'done', { progress: 100, stage: null, jobId: null, jobSeq: 0 });
        this.sockets.closeAll('task ended');
        return;
      }
      if (step.status !== 'running') {
        this.store.setStep(step.index, 'running', 0);
        this.emit({ kind: 'step', step: step.index, status: 'running', op: step.op }, { currentStep: step.index });
      }
      const started = t.jobId !== null;
      const jobId = t.jobId ?? jobIdFor(t.id, t.attempt, step.index);
      const outcome = await runStepJob(
        {
          runner,
          bucket: this.env.BUCKET,
          jobId,
          step: step.params,
          input: this.inputFor(step.index),
          extras: extraInputs(t, step.params, step.index, this.store.outputs()),
          limits: mediaLimits(this.env),
          started,
          after: t.jobSeq,
          signal,
          onStarted: () => {
            if (!started && this.alive(token)) this.store.patch({ jobId, jobSeq: 0 });
          },
        },
        {
          onContact: () => {
            if (token !== this.token) return;
            this.lastContactAt = Date.now();
            this.reattachedAfterStall = false;
          },
          onEvent: (event) => this.onRunnerEvent(token, runner, jobId, step.index, event, signal),
        },
      );
      if (!this.alive(token)) return;
      this.progress.flush();
      if (outcome.kind === 'aborted') return;
      if (outcome.kind === 'error') {
        if (started || this.store.task()?.jobId) void this.deleteRunnerJob(jobId);
        this.failAttempt(outcome.error);
        return;
      }
      this.store.setStep(step.index, 'succeeded', 100);
      this.emit({ kind: 'step', step: step.index, status: 'succeeded', op: step.op }, { jobId: null, jobSeq: 0 });
      await this.deleteRunnerJob(jobId);
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
    if (event.type === 'progress') {
      this.progress.push({ token, event: { ...event } }, event.at);
      // the runner seq is recorded with the progress row when it is written
      return;
    }
    this.progress.flush();
    if (event.type === 'log') {
      this.emit({ kind: 'log', step: stepIndex, level: event.level, message: event.message }, { jobSeq: event.seq });
    } else if (event.type === 'output') {
      const name = this.outputName(stepIndex, event.name);
      const key = `tasks/${this.store.task()!.id}/${name}`;
      const contentType = event.contentType || contentTypeFor(name);
      // The runner enforces the output limit; this is the backstop for one that did not.
      const { maxOutputBytes } = mediaLimits(this.env);
      const tooLarge = (bytes: number) =>
        new ClipyardError('job.output_too_large', `output ${name} is ${bytes} bytes; the limit is ${maxOutputBytes}`);
      if (event.size > maxOutputBytes) throw tooLarge(event.size);
      this.store.patch({ stage: 'storing', message: `saving ${name}` });
      const size = await storeOutput(runner, this.env.BUCKET, jobId, event.name, key, contentType, signal, () => {
        if (token === this.token) this.lastContactAt = Date.now();
      });
      if (size > maxOutputBytes) {
        await this.env.BUCKET.delete(key);
        throw tooLarge(size);
      }
      const tenant = this.store.task()!.tenant;
      this.ctx.waitUntil(
        this.env.TENANTS.getByName(tenant)
          .addOutputBytes(size)
          .catch(() => {}),
      );
      if (!this.alive(token)) return;
      const now = Date.now();
      this.store.addOutput({
        name,
        step: stepIndex,
        key,
        size,
        contentType,
        createdAt: now,
        expiresAt: now + this.config.outputTtlMs,
      });
      this.emit(
        { kind: 'output', step: stepIndex, output: { name, step: stepIndex, size, contentType } },
        { jobSeq: event.seq },
      );
    } else {
      // done / error: the outcome is handled by drive(); record that the runner seq was consumed.
      this.store.patch({ jobSeq: event.seq });
    }
  }

  /** Write one (possibly throttled) progress event, if the job that produced it is still current. */
  private recordProgress(token: number, event: ProgressEvent): void {
    if (!this.alive(token)) return;
    const t = this.store.task()!;
    const steps = this.store.steps();
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
    this.store.setStepProgress(stepIndex, stepProgress);
    const message = event.message ?? event.stage;
    const e: NewEvent = {
      kind: 'progress',
      step: stepIndex,
      stage: event.stage,
      progress: overall,
      stepProgress,
      message,
    };
    if (event.bytes !== undefined) e.bytes = event.bytes;
    if (event.totalBytes !== undefined) e.totalBytes = event.totalBytes;
    if (event.speed !== undefined) e.speed = event.speed;
    if (event.eta !== undefined) e.eta = event.eta;
    this.emit(e, { progress: overall, stage: event.stage, message, jobSeq: Math.max(t.jobSeq, event.seq) });
    this.batch.progressed();
  }

  /** A failed attempt: retry after a backoff when the error allows it, else fail the task. */
  private failAttempt(error: ErrorBody): void {
    const t = this.store.task();
    if (t?.status !== 'running') return;
    const retryable = isRetryable(error);
    const step = this.store.steps().find((s) => s.status === 'running');
    if (retryable && t.attempt < t.maxAttempts) {
      const delay = backoffDelayMs(t.attempt + 1, this.config.retryDelaysMs);
      // one clock reading, so the event's `at` plus the delay is exactly its `nextRetryAt`
      const now = Date.now();
      const runAt = now + delay;
      this.emitStatus(
        'retrying',
        `${error.message}; retrying in ${Math.ceil(delay / 1000)} s`,
        { lastError: { ...error, retryable: true }, runAt, jobId: null, jobSeq: 0 },
        now,
      );
    } else {
      if (step) {
        this.store.setStep(step.index, 'failed');
        this.emit({ kind: 'step', step: step.index, status: 'failed', op: step.op });
      }
      this.emitStatus('failed', `failed: ${error.message}`, {
        lastError: { ...error, retryable },
        jobId: null,
        jobSeq: 0,
        stage: null,
      });
      this.sockets.closeAll('task ended');
    }
    void this.scheduleAlarm();
  }

  // ---- helpers ----------------------------------------------------------------------------------

  private emit(event: NewEvent, patch: Parameters<TaskStore['appendEvent']>[1] = {}): TaskEvent {
    const e = this.store.appendEvent(event, patch);
    this.sockets.broadcast(e);
    return e;
  }

  private emitStatus(...args: Parameters<TaskStore['transition']>): TaskEvent {
    const e = this.store.transition(...args);
    this.sockets.broadcast(e);
    this.reportToTenant();
    this.batch.statusChanged();
    if (isTerminal(args[0])) this.releaseSlot();
    return e;
  }

  /** Give the tenant's concurrency slot back, so the next task in line starts. */
  private releaseSlot(): void {
    const t = this.store.task();
    if (!t) return;
    this.ctx.waitUntil(
      this.env.TENANTS.getByName(t.tenant)
        .release(t.id)
        .catch(() => {}),
    );
  }

  /** Tell the tenant's index where this task stands (never blocks the task on it). */
  private reportToTenant(updatedAt?: number): void {
    const t = this.store.task();
    if (!t) return;
    const entry: TaskIndexEntry = {
      id: t.id,
      status: t.status,
      label: t.label,
      source:
        'url' in t.input
          ? t.input.url
          : 'upload' in t.input
            ? `upload:${t.input.upload}`
            : `task:${t.input.task}/${t.input.output}`,
      ops: this.store
        .steps()
        .map((s) => s.op)
        .join(','),
      progress: t.progress,
      message: t.message,
      attempt: t.attempt,
      seq: t.seq,
      createdAt: t.createdAt,
      updatedAt: updatedAt ?? t.updatedAt,
    };
    this.ctx.waitUntil(
      this.env.TENANTS.getByName(t.tenant)
        .record(entry)
        .catch((err: unknown) =>
          console.warn(
            JSON.stringify({ level: 'warn', msg: 'tenant index update failed', task: t.id, error: String(err) }),
          ),
        ),
    );
  }

  /** Overall progress of the steps already done: where a new attempt starts. */
  private resumeProgress(): number {
    const steps = this.store.steps();
    const first = steps.findIndex((s) => s.status !== 'succeeded');
    return overallProgress(
      steps.map((s) => s.op),
      first < 0 ? steps.length : first,
      0,
    );
  }

  /** The step's main input (see step-inputs.ts: a named earlier output, the previous step's, or the task's). */
  private inputFor(stepIndex: number): StepInput {
    return mainInput(this.store.task()!, this.store.steps(), this.store.outputs(), stepIndex);
  }

  /** Output names are unique per task: a later step with the same file name gets a step prefix. */
  private outputName(stepIndex: number, runnerName: string): string {
    const base = runnerName.replace(/[^\w.-]/g, '_').slice(0, 100) || 'output';
    const existing = this.store.output(base);
    return !existing || existing.step === stepIndex ? base : `step${stepIndex + 1}-${base}`;
  }

  private async deleteRunnerJob(jobId: string): Promise<void> {
    try {
      const res = await runnerFor(this.env, this.store.task()?.id ?? 'task').fetch(
        `/jobs/${encodeURIComponent(jobId)}`,
        {
          method: 'DELETE',
          signal: AbortSignal.timeout(CANCEL_TIMEOUT_MS),
        },
      );
      await res.body?.cancel();
    } catch {
      /* the runner is gone: nothing left to stop there */
    }
  }

  private async sign(key: string, origin: string): Promise<string | null> {
    const secret = linkSecrets(this.env)[0];
    if (!secret) return null;
    const { path } = await signLink(secret, key, this.config.linkTtlSeconds);
    return `${origin}${path}`;
  }

  private async outputUrls(origin: string): Promise<Record<string, string>> {
    const urls: Record<string, string> = {};
    for (const o of this.store.outputs()) {
      const url = await this.sign(o.key, origin);
      if (url) urls[o.name] = url;
    }
    return urls;
  }

  private async snapshot(origin: string): Promise<TaskSnapshot> {
    const urls = await this.outputUrls(origin);
    const s = this.store.snapshot(urls);
    if (!s) throw new ClipyardError('task.not_found', 'no such task', { status: 404 });
    return s;
  }
}
