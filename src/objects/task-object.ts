/**
 * TaskObject: one Durable Object per task, the single source of truth for its state and progress.
 *
 * The Worker calls its RPC methods (create, get, cancel, retry, remove, outputLink); its fetch handles
 * only event subscriptions (WebSocket upgrade, or SSE). Work is driven by the object's one alarm:
 * it starts queued work, waits out retry backoffs, watches running jobs for stalls (re-attaching after
 * an eviction), and expires outputs. The running attempt lives in task-driver.ts (steps as runner
 * jobs whose event streams it pulls, see step-job.ts); the tenant and batch hear of the task through
 * tenant-report.ts and batch-report.ts.
 */
import { DurableObject } from 'cloudflare:workers';
import { signLink } from '../lib/links.ts';
import { overallProgress } from '../lib/progress.ts';
import { presignR2Get } from '../lib/r2-presign.ts';
import { backoffDelayMs, isRetryable } from '../lib/retry-policy.ts';
import { isTerminal } from '../lib/task-status.ts';
import { ClipyardError, type ErrorBody, rpcResult } from '../protocol/errors.ts';
import type { CreateTaskBody, TaskEvent, TaskSnapshot, TaskStatus } from '../protocol/task.ts';
import type { WebhookTarget } from '../protocol/webhook.ts';
import { BatchReporter, childReportOf } from './batch-report.ts';
import { linkSecrets, r2Credentials, socketConfig, type TaskConfig, taskConfig } from './config.ts';
import { RunTimeline } from './run-timeline.ts';
import { runnerFor } from './runner.ts';
import { dropIdleSockets } from './socket-guard.ts';
import { Subscribers } from './subscribers.ts';
import { jobIdFor, TaskDriver } from './task-driver.ts';
import { migrate } from './task-schema.ts';
import { TaskSockets } from './task-sockets.ts';
import { type NewEvent, type OutputRow, type TaskPatch, TaskStore } from './task-store.ts';
import { indexEntryOf, TenantReporter } from './tenant-report.ts';
import { outboxConfig, WebhookOutbox } from './webhook-outbox.ts';

/** The watchdog never sleeps longer than this while a job runs. */
const MAX_WATCHDOG_TICK_MS = 10_000;
/** A starved object (late alarms) still calls a silence this many stall timeouts long a stall. */
const STARVED_STALL_FACTOR = 3;
/** A queued task without a slot looks again this often, in case a wake-up was lost. */
const QUEUED_RECHECK_MS = 30_000;

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
  /** where its terminal event is delivered (checked by the Worker; the tenant's default applied) */
  webhook?: WebhookTarget | null;
}

export class TaskObject extends DurableObject<Env> {
  private readonly store: TaskStore;
  private readonly sockets: TaskSockets;
  private readonly batch: BatchReporter;
  private readonly tenant: TenantReporter;
  private readonly driver: TaskDriver;
  private readonly webhooks: WebhookOutbox;
  private readonly timeline: RunTimeline;
  /** When the watchdog's alarm was due, to tell how late it ran. */
  private watchdogDueAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new TaskStore(ctx.storage);
    this.sockets = new TaskSockets(ctx);
    this.tenant = new TenantReporter(ctx, env, this.store);
    this.batch = new BatchReporter(ctx, env, () => childReportOf(this.store));
    this.timeline = new RunTimeline(ctx.storage);
    this.webhooks = new WebhookOutbox(ctx.storage, () => outboxConfig(env, () => this.store.task()?.tenant ?? null));
    this.driver = new TaskDriver({
      env,
      ctx,
      store: this.store,
      config: () => this.config,
      emit: (event, patch) => this.emit(event, patch),
      stageEntered: (step, stage) => this.timeline.stage(step, stage, Date.now()),
      succeeded: () => {
        this.emitStatus('succeeded', 'done', { progress: 100, stage: null, jobId: null, jobSeq: 0 });
        this.sockets.closeAll('task ended');
      },
      failAttempt: (error) => this.failAttempt(error),
      stopped: () => void this.scheduleAlarm(),
      progressed: () => this.batch.progressed(),
      storedBytes: (size) => this.tenant.addOutputBytes(size),
    });
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage));
  }

  private get config(): TaskConfig {
    return taskConfig(this.env);
  }

  // ---- RPC (public methods; expected errors return as values, see rpcResult) --------------------

  async create(init: CreateTaskInit) {
    return rpcResult(() => this.createImpl(init));
  }

  async get(tenant: string, origin: string) {
    return rpcResult(() => this.getImpl(tenant, origin));
  }

  async cancel(tenant: string, origin: string) {
    return rpcResult(() => this.cancelImpl(tenant, origin));
  }

  async retry(tenant: string, origin: string) {
    return rpcResult(() => this.retryImpl(tenant, origin));
  }

  async remove(tenant: string) {
    return rpcResult(() => this.removeImpl(tenant));
  }

  async outputLink(tenant: string, name: string, origin: string) {
    return rpcResult(() => this.outputLinkImpl(tenant, name, origin));
  }

  /** Where this task stands, for the batch it belongs to (null once the task is gone). */
  async batchReport() {
    return childReportOf(this.store)?.report ?? null;
  }

  async outputKey(tenant: string, name: string) {
    return rpcResult(() => this.outputKeyImpl(tenant, name));
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
    this.webhooks.setTarget(init.webhook ?? null, init.origin);
    this.timeline.created(init.body, now);
    this.tenant.record();
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
    this.driver.abandon();
    if (t.jobId) await this.driver.deleteJob(t.jobId);
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
    this.driver.abandon();
    if (t.jobId && !isTerminal(t.status)) await this.driver.deleteJob(t.jobId);
    const keys = this.store.outputs().map((o) => o.key);
    if (keys.length > 0) await this.env.BUCKET.delete(keys);
    this.sockets.closeAll('task deleted');
    this.webhooks.clear();
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
    return (await this.sign(o, origin)) ?? '';
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
    const snapshot = this.withExtras(this.store.snapshot(urls)!);
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
    await this.webhooks.deliverDue(now);
    if (t.status === 'queued') {
      // the index row it will have once running: the transition below appends one event, seq + 1
      const running = { ...indexEntryOf(this.store)!, status: 'running' as const, message: 'starting', seq: t.seq + 1 };
      const grant = await this.env.TENANTS.getByName(t.tenant).acquire(t.id, cfg.maxConcurrentTasks, running);
      const now2 = this.store.task();
      if (now2?.status !== 'queued') {
        if (grant.granted) this.tenant.finish();
      } else if (grant.granted) {
        // the grant marked the task running in the tenant's index
        this.emitStatus('running', 'starting', { stage: 'starting' }, { indexed: true });
        this.driver.start();
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
      this.driver.start();
    } else if (t.status === 'running') {
      if (!this.driver.running) {
        // Evicted or restarted mid-job: re-attach to the runner where the log left off.
        this.driver.start();
      } else if (this.silenceIsStall(now, cfg.stallTimeoutMs)) {
        const silence = `no word from the media runner for ${Math.round((now - this.driver.lastContactAt) / 1000)} s`;
        this.driver.abandon();
        if (t.jobId && !this.driver.reattachedAfterStall) {
          // A silent stream may be a dead connection, or this object too busy to read it: re-attach
          // where the log left off. Only a runner that stays silent after that fails the attempt.
          this.driver.reattachedAfterStall = true;
          const message = `${silence}; re-attaching`;
          this.emit({ kind: 'log', step: t.currentStep, level: 'warn', message }, { message });
          this.driver.start();
        } else {
          this.driver.reattachedAfterStall = false;
          // Also when the job was never recorded: a frozen runner may still act on the POST later.
          void this.driver.deleteJob(t.jobId ?? jobIdFor(t.id, t.attempt, t.currentStep));
          this.failAttempt({ code: 'runner.stalled', message: silence, retryable: true });
        }
      } else {
        this.store.compact();
        this.tenant.record(this.driver.lastContactAt);
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
    const silentMs = now - this.driver.lastContactAt;
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
    const webhookAt = this.webhooks.nextDueAt();
    if (webhookAt !== null) at = Math.min(at ?? webhookAt, webhookAt);
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(at);
  }

  /** Queue the webhook delivery of a terminal status (its payload is the snapshot), then arm the alarm. */
  private queueWebhook(status: TaskStatus): void {
    const origin = this.webhooks.origin();
    if (origin === null) return;
    this.ctx.waitUntil(
      (async () => {
        const data = await this.snapshot(origin);
        if (!this.store.task()) return;
        if (this.webhooks.enqueue(`task.${status}` as 'task.succeeded', data)) await this.scheduleAlarm();
      })(),
    );
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
        { now },
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

  private emit(event: NewEvent, patch: TaskPatch = {}): TaskEvent {
    const e = this.store.appendEvent(event, patch);
    this.timeline.observe(e);
    this.sockets.broadcast(e);
    return e;
  }

  /**
   * Change status (see TaskStore.transition), tell subscribers, the batch and the tenant. An ended
   * task's index row and slot release go to the tenant in one call; `indexed` skips the report when
   * the tenant has recorded this change itself (a granted slot marks the task running there).
   */
  private emitStatus(
    to: TaskStatus,
    message: string,
    patch: TaskPatch = {},
    opts: { now?: number; indexed?: boolean } = {},
  ): TaskEvent {
    const e = this.store.transition(to, message, patch, opts.now);
    this.timeline.observe(e);
    this.sockets.broadcast(e);
    this.batch.statusChanged();
    if (isTerminal(to)) this.queueWebhook(to);
    if (isTerminal(to)) this.tenant.finish();
    else if (!opts.indexed) this.tenant.record();
    return e;
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

  /**
   * A download link for an output: S3-presigned straight to R2 when R2 credentials are configured,
   * else the Worker's own HMAC-signed /files link; null when neither is configured.
   */
  private async sign(o: Pick<OutputRow, 'key' | 'name' | 'contentType'>, origin: string): Promise<string | null> {
    const ttl = this.config.linkTtlSeconds;
    const r2 = r2Credentials(this.env);
    if (r2) return presignR2Get(r2, o.key, ttl, { filename: o.name, contentType: o.contentType });
    const secret = linkSecrets(this.env)[0];
    if (!secret) return null;
    const { path } = await signLink(secret, o.key, ttl);
    return `${origin}${path}`;
  }

  private async outputUrls(origin: string): Promise<Record<string, string>> {
    const urls: Record<string, string> = {};
    for (const o of this.store.outputs()) {
      const url = await this.sign(o, origin);
      if (url) urls[o.name] = url;
    }
    return urls;
  }

  private async snapshot(origin: string): Promise<TaskSnapshot> {
    const urls = await this.outputUrls(origin);
    const s = this.store.snapshot(urls);
    if (!s) throw new ClipyardError('task.not_found', 'no such task', { status: 404 });
    return this.withExtras(s);
  }

  /** The snapshot with its run timeline, its request body and (with a webhook) its deliveries. */
  private withExtras(s: TaskSnapshot): TaskSnapshot {
    const extras = { timeline: this.timeline.timeline(), request: this.timeline.request() };
    return this.webhooks.target() ? { ...s, ...extras, webhooks: this.webhooks.deliveries() } : { ...s, ...extras };
  }
}
