/**
 * TaskObject: one Durable Object per task, the single source of truth for its state and progress.
 *
 * The Worker calls its RPC methods (get, cancel, retry, remove, outputLink; create for a replay the
 * tenant cannot check, and the batch for its children); its fetch handles only event subscriptions
 * (WebSocket upgrade, or SSE). A task the tenant took in (TenantObject.intake) has no row here until
 * its slot is handed over (`slotGranted` with its init) or a call finds no row and asks the tenant:
 * task-intake.ts makes it then, as the tenant has it. Every change of status or step is a lifecycle
 * input (an RPC, the alarm, a slot grant from the tenant, the driver's step moves and outcome) that
 * lib/task-lifecycle.ts decides; this object only writes the move (TaskStore.applyMove), broadcasts its
 * events and carries out its effects (task-effects.ts). The running attempt lives in
 * task-driver.ts; the tenant and batch hear of the task through tenant-report.ts and batch-report.ts.
 */
import { DurableObject } from 'cloudflare:workers';
import {
  type Decision,
  decide,
  type Effect,
  type LifecycleInput,
  type LifecycleState,
  lifecycleDueAt,
} from '../lib/task-lifecycle.ts';
import { isTerminal } from '../lib/task-status.ts';
import { ClipyardError, rpcResult } from '../protocol/errors.ts';
import type { TaskEvent, TaskSnapshot, TaskStatus } from '../protocol/task.ts';
import { BatchReporter, childReportOf } from './batch-report.ts';
import { dailyLimits, socketConfig, type TaskConfig, taskConfig } from './config.ts';
import { countEntryPoints, IdleRelease, idleReleaseMs } from './idle-release.ts';
import { outputUrls, signOutput } from './output-links.ts';
import { RunTimeline } from './run-timeline.ts';
import { dropIdleSockets } from './socket-guard.ts';
import { Subscribers } from './subscribers.ts';
import { TaskDriver } from './task-driver.ts';
import { TaskEffects } from './task-effects.ts';
import { type CreateTaskInit, type TaskInit, TaskMaker } from './task-intake.ts';
import { migrate } from './task-schema.ts';
import { snapshotOf } from './task-snapshot.ts';
import { TaskSockets } from './task-sockets.ts';
import { TaskStore } from './task-store.ts';
import type { QuotaRefusal } from './tenant-object.ts';
import { TenantReporter } from './tenant-report.ts';
import { outboxConfig, WebhookOutbox } from './webhook-outbox.ts';

export type { CreateTaskInit } from './task-intake.ts';

/** What a create answers: the task (new or replayed), or the daily quota's refusal (nothing made). */
export type CreateAnswer = { snapshot: TaskSnapshot; created: boolean } | { refused: QuotaRefusal };

/** A source of wake-ups besides the lifecycle (output expiry; e.g. an outbox): when it is next due. */
export type WakeSource = (now: number) => number | null;

/** The calls into a TaskObject that idle release counts as in flight (every way in, see idle-release.ts). */
const TASK_ENTRY_POINTS = [
  'create',
  'get',
  'cancel',
  'retry',
  'remove',
  'outputLink',
  'batchReport',
  'outputKey',
  'needsSlot',
  'slotGranted',
  'ownsKey',
  'fetch',
  'webSocketMessage',
  'webSocketClose',
  'alarm',
] as const;
/** An idle task whose alarm is due sooner than this stays in memory (workerd's own idle eviction: 10 s). */
const STAY_FOR_WAKE_WITHIN_MS = 10_000;
/** A task waiting in line stays idle this many times IDLE_RELEASE_MS before it leaves (see releaseIn). */
const QUEUED_IDLE_FACTOR = 5;

export class TaskObject extends DurableObject<Env> {
  private readonly store: TaskStore;
  private readonly sockets: TaskSockets;
  private readonly batch: BatchReporter;
  private readonly tenant: TenantReporter;
  private readonly driver: TaskDriver;
  private readonly webhooks: WebhookOutbox;
  private readonly timeline: RunTimeline;
  private readonly effects: TaskEffects;
  /** A task taken in by its tenant is made here from its init (task-intake.ts). */
  private readonly maker: TaskMaker;
  /** The alarm is the earliest of these (see scheduleAlarm). */
  private readonly wakeSources: WakeSource[];
  /** When the watchdog's alarm was due, to tell how late it ran. */
  private watchdogDueAt = 0;
  /** The create in progress (waiting on the tenant's answer), if any. */
  private entering: Promise<CreateAnswer> | null = null;
  /**
   * The alarm this instance last armed (null: none), so a re-arm to the same time writes nothing
   * (alarm writes are billed like rows). Undefined when unknown (a new instance); null once alarm()
   * runs, since the alarm that fired is used up. Set before the write is awaited, so two re-arms in
   * flight at once write once.
   */
  private armedAt: number | null | undefined = undefined;
  // ---- idle release (idle-release.ts): a waiting or ended task with nothing in flight leaves memory
  private readonly idle: IdleRelease;
  static {
    countEntryPoints(TaskObject.prototype, TASK_ENTRY_POINTS, (o) => o.idle);
  }

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.idle = new IdleRelease(ctx, idleReleaseMs(env), (idleFor) => this.releaseIn(idleFor));
    this.timeline = new RunTimeline(ctx.storage);
    this.store = new TaskStore(ctx.storage, this.timeline);
    this.sockets = new TaskSockets(ctx);
    this.tenant = new TenantReporter(ctx, env, this.store);
    this.batch = new BatchReporter(
      ctx,
      env,
      () => childReportOf(this.store),
      () => this.store.task()?.batchId ?? null,
    );
    this.webhooks = new WebhookOutbox(ctx.storage, () => outboxConfig(env, () => this.store.task()?.tenant ?? null));
    this.driver = new TaskDriver({
      env,
      ctx,
      store: this.store,
      config: () => this.config,
      emit: (event, patch) => {
        const e = this.store.appendEvent(event, patch);
        this.sockets.broadcast(e);
        return e;
      },
      emitProgress: (event, patch, step, stepProgress) => {
        const e = this.store.appendProgress(event, patch, step, stepProgress);
        this.sockets.broadcast(e);
        return e;
      },
      stageEntered: (step, stage) => this.timeline.stage(step, stage, Date.now()),
      move: (input) => {
        const { decision, done } = this.perform(input);
        ctx.waitUntil(done);
        return decision.ok;
      },
      stopped: () => ctx.waitUntil(this.scheduleAlarm()),
      progressed: () => this.batch.progressed(),
      storedBytes: (size) => this.tenant.addOutputBytes(size),
    });
    this.effects = new TaskEffects({
      env,
      ctx,
      store: this.store,
      driver: this.driver,
      tenant: this.tenant,
      batch: this.batch,
      sockets: this.sockets,
      config: () => this.config,
      perform: (input) => this.perform(input).done,
    });
    this.maker = new TaskMaker({
      ctx,
      env: () => this.env,
      store: this.store,
      timeline: this.timeline,
      webhooks: this.webhooks,
      maxAttempts: () => this.config.maxAttempts,
      perform: (input, within) => this.perform(input, within).done,
    });
    this.wakeSources = [
      (now) =>
        lifecycleDueAt(this.store.task() ?? { status: 'succeeded', runAt: null }, now, this.config.stallTimeoutMs),
      () => {
        const expiries = this.store.outputs().map((o) => o.expiresAt);
        return expiries.length > 0 ? Math.min(...expiries) : null;
      },
      () => this.webhooks.nextDueAt(),
    ];
    ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage);
      // seqs a crash may have left handed out but unwritten are filled before anything else runs
      this.store.recover();
    });
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
   * Create the task, or return the existing one for the same id (an Idempotency-Key retry, which
   * costs no tenant call). A different body under the same key is a conflict. The API's creates go
   * through the tenant's intake instead (TenantObject.intake, task-intake.ts); this is the way in of
   * a batch's children, and of a replay the tenant cannot check itself. A new task asks its
   * tenant once (`enter`: daily quota, index row, slot or place in line) before it writes anything: a
   * quota refusal comes back as a value and nothing is made; a tenant that cannot be reached is
   * tenant.unavailable (retryable) and nothing is made either. A task granted a slot starts at once;
   * one in line waits for `slotGranted`.
   */
  private async createImpl(init: CreateTaskInit): Promise<CreateAnswer> {
    // a second create of this id while the first waits on the tenant answers after it, as a replay
    while (this.entering) await this.entering.catch(() => {});
    const existing = this.store.task();
    if (existing) {
      if (existing.tenant !== init.tenant || existing.bodyHash !== init.bodyHash) {
        throw new ClipyardError('task.exists', 'this Idempotency-Key was already used for a different task', {
          status: 409,
        });
      }
      return { snapshot: await this.snapshot(init.origin), created: false };
    }
    const entering = this.enter(init);
    this.entering = entering;
    try {
      return await entering;
    } finally {
      if (this.entering === entering) this.entering = null;
    }
  }

  private async enter(init: CreateTaskInit): Promise<CreateAnswer> {
    const now = Date.now();
    // the tenant's answer and the task's first move (slot granted or denied) are written with the row
    const answer = await this.maker.enter(init, now, this.config.maxConcurrentTasks, dailyLimits(this.env));
    if (!answer.ok) return { refused: answer };
    return { snapshot: await this.snapshot(init.origin), created: true };
  }

  /**
   * The task of `tenant`, made first from the tenant's init when it was taken in there and has no
   * row here yet (task-intake.ts); task.not_found when neither has it.
   */
  private async require(tenant: string) {
    if (!this.store.task()) await this.maker.fromTenant(tenant);
    return this.store.require(tenant);
  }

  /** The current snapshot, with fresh signed links for the outputs. */
  private async getImpl(tenant: string, origin: string): Promise<TaskSnapshot> {
    await this.require(tenant);
    return this.snapshot(origin);
  }

  /** Stop the runner's processes and end the task `canceled`. */
  private async cancelImpl(tenant: string, origin: string): Promise<TaskSnapshot> {
    await this.require(tenant);
    await this.performRpc({ kind: 'cancel', now: Date.now() });
    return this.snapshot(origin);
  }

  /** Run a failed or canceled task again, from its first unfinished step, with its own attempt budget. */
  private async retryImpl(tenant: string, origin: string): Promise<TaskSnapshot> {
    await this.require(tenant);
    await this.performRpc({ kind: 'retry', now: Date.now() });
    return this.snapshot(origin);
  }

  /** Delete outputs from R2, stop any work, close subscribers and forget the task. */
  private async removeImpl(tenant: string): Promise<void> {
    if (!this.store.task()) {
      // taken in by the tenant, never made here: only the tenant has anything to forget
      const outcome = await this.maker.removeUnmade(tenant);
      if (outcome === 'removed') return;
      if (outcome === 'unknown') throw new ClipyardError('task.not_found', 'no such task', { status: 404 });
    }
    const t = this.store.require(tenant);
    this.maker.removed();
    this.driver.abandon();
    if (t.jobId && !isTerminal(t.status)) await this.driver.deleteJob(t.jobId);
    const keys = this.store.outputs().map((o) => o.key);
    if (keys.length > 0) await this.env.BUCKET.delete(keys);
    this.sockets.closeAll('task deleted');
    this.webhooks.clear();
    await this.env.TENANTS.getByName(t.tenant).forget(t.id);
    this.armedAt = null;
    await this.ctx.storage.deleteAlarm();
    await this.store.wipe();
    migrate(this.ctx.storage);
  }

  /** A fresh signed link for one output, or output.not_found. */
  private async outputLinkImpl(tenant: string, name: string, origin: string): Promise<string> {
    await this.require(tenant);
    const o = this.store.output(name);
    if (!o) throw new ClipyardError('output.not_found', `this task has no output named ${name}`, { status: 404 });
    return (await signOutput(this.env, o, origin)) ?? '';
  }

  /** The R2 key of an output, for chaining it into another task of the same tenant. */
  private async outputKeyImpl(tenant: string, name: string): Promise<{ key: string; contentType: string }> {
    await this.require(tenant);
    const o = this.store.output(name);
    if (!o) throw new ClipyardError('output.not_found', `that task has no output named ${name}`, { status: 404 });
    return { key: o.key, contentType: o.contentType };
  }

  /** Asked by the tenant before it reclaims a slot: is this task still queued, running or retrying? */
  async needsSlot(): Promise<boolean> {
    const t = this.store.task();
    return t !== null && !isTerminal(t.status);
  }

  /**
   * The tenant handed this task a concurrency slot (at its intake, or at the head of the line when
   * one freed): start now. A task taken in by the tenant and not made yet is made from `init` first
   * (task-intake.ts), in the same call. Answers whether the task took it; false (no such task, or
   * it has ended) gives the slot straight back. A grant that arrives while the create is still on
   * its way waits for it. Idempotent: a grant sent again to a task that took it costs nothing.
   */
  async slotGranted(init?: TaskInit | null): Promise<boolean> {
    while (this.entering) await this.entering.catch(() => {});
    const t = this.store.task();
    if (!t && init) return this.maker.make(init, true);
    if (!t || isTerminal(t.status)) return false;
    await this.perform({ kind: 'slot_granted', now: Date.now() }).done;
    return true;
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
    if (!this.store.task() && tenant) {
      try {
        await this.maker.fromTenant(tenant);
      } catch (err) {
        if (!(err instanceof ClipyardError)) throw err;
        return Response.json({ error: err.toBody() }, { status: err.status });
      }
    }
    const t = this.store.task();
    if (!t || t.tenant !== tenant) {
      const body = { error: { code: 'task.not_found', message: 'no such task', retryable: false } };
      return Response.json(body, { status: 404 });
    }
    const after = Subscribers.afterOf(request);
    const origin = request.headers.get('x-clipyard-origin') ?? new URL(request.url).origin;
    // Sign links first (async); then read snapshot and replay in one synchronous turn.
    const urls = await outputUrls(this.env, this.store.outputs(), origin);
    const now = this.store.task();
    if (!now) return Response.json({ error: { code: 'task.not_found', message: 'no such task' } }, { status: 404 });
    const snapshot = this.withExtras(snapshotOf(now, this.store.steps(), this.store.outputs(), urls));
    const replay = this.store.eventsAfter(after);
    return this.sockets.subscribe(request, snapshot, replay, isTerminal(snapshot.status));
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.sockets.onClientMessage(ws, message);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.sockets.onClientClose(ws, code, reason);
  }

  // ---- the alarm: one lifecycle input, then re-armed whatever happened ---------------------------

  override async alarm(): Promise<void> {
    this.armedAt = null;
    if (!this.store.task()) return;
    const now = Date.now();
    dropIdleSockets(this.ctx, now, socketConfig(this.env).idleTimeoutMs);
    try {
      await this.webhooks.deliverDue(now);
      const watchdog = {
        driving: this.driver.running,
        lastContactAt: this.driver.lastContactAt,
        dueAt: this.watchdogDueAt,
        reattachedAfterStall: this.driver.reattachedAfterStall,
      };
      await this.perform({ kind: 'alarm', now, watchdog }).done;
    } finally {
      // Whatever failed above (a tenant that could not be reached, R2), something wakes the task again.
      await this.scheduleAlarm();
    }
  }

  /** One alarm: the earliest time any wake-up source asks for. */
  private async scheduleAlarm(): Promise<void> {
    const t = this.store.task();
    if (!t) return;
    const at = this.nextWakeAt(Date.now());
    this.watchdogDueAt = t.status === 'running' && at !== null ? at : 0;
    if (at === this.armedAt) return;
    if (at === null) {
      this.armedAt = null;
      await this.ctx.storage.deleteAlarm();
    } else await this.setAlarm(at);
  }

  /** The earliest time any wake-up source asks for (null: none). */
  private nextWakeAt(now: number): number | null {
    let at: number | null = null;
    for (const source of this.wakeSources) {
      const due = source(now);
      if (due !== null && (at === null || due < at)) at = due;
    }
    return at;
  }

  /**
   * When this idle instance may leave memory (idle-release.ts): an ended task, or an object with no
   * task, once idle for IDLE_RELEASE_MS; a task waiting in line once idle for QUEUED_IDLE_FACTOR
   * times that, since its grant may come soon and a rebuilt object pays ~2 ms (its SQLite connection
   * opened and its statements compiled again); never one running, with a subscriber, a create in
   * progress, or a wake-up due soon (a retry's backoff, a webhook delivery).
   */
  private releaseIn(idleFor: number): number | null {
    if (this.driver.running || this.entering) return null;
    const t = this.store.task();
    if (t && t.status !== 'queued' && !isTerminal(t.status)) return null;
    if (this.sockets.count > 0) return null;
    if (!t) return 0;
    const now = Date.now();
    const next = this.nextWakeAt(now);
    if (next !== null && next - now < STAY_FOR_WAKE_WITHIN_MS) return null;
    return t.status === 'queued' ? Math.max(0, idleReleaseMs(this.env) * QUEUED_IDLE_FACTOR - idleFor) : 0;
  }

  private async setAlarm(at: number): Promise<void> {
    this.armedAt = at;
    try {
      await this.ctx.storage.setAlarm(at);
    } catch (err) {
      this.armedAt = undefined;
      throw err;
    }
  }

  // ---- carrying out lifecycle moves ---------------------------------------------------------------

  private lifecycleState(): LifecycleState | null {
    const t = this.store.task();
    if (!t) return null;
    return { ...t, steps: this.store.steps() };
  }

  /**
   * Decide one lifecycle input, write the move with its events (one transaction), broadcast them,
   * then carry out its effects. The write is synchronous; `done` settles once the effects have.
   */
  private perform(
    input: LifecycleInput,
    within?: (write: () => void) => void,
  ): { decision: Decision; done: Promise<void> } {
    const out = { decision: { ok: false, reason: 'no such task' } as Decision, events: [] as TaskEvent[] };
    const write = () => {
      const state = this.lifecycleState();
      if (!state) return;
      out.decision = decide(state, input, this.config);
      if (out.decision.ok) out.events = this.store.applyMove(out.decision.move, input.now);
    };
    // `within`: the write runs inside another one's transaction (a new task's row: task-intake.ts)
    if (within) within(write);
    else write();
    const { decision, events } = out;
    if (!decision.ok) return { decision, done: Promise.resolve() };
    const { move } = decision;
    this.sockets.broadcast(events);
    if (move.to !== null && isTerminal(move.to)) this.queueWebhook(move.to);
    const rearm = move.to !== null || move.patch.runAt !== undefined;
    return { decision, done: this.carryOut(move.effects, rearm) };
  }

  /** An RPC's input: a refused one is task.illegal_transition. */
  private async performRpc(input: LifecycleInput): Promise<void> {
    const { decision, done } = this.perform(input);
    if (!decision.ok) throw new ClipyardError('task.illegal_transition', decision.reason, { status: 409 });
    await done;
  }

  private async carryOut(effects: readonly Effect[], rearm: boolean): Promise<void> {
    for (const effect of effects) await this.effects.run(effect);
    if (rearm) await this.scheduleAlarm();
  }

  // ---- helpers ----------------------------------------------------------------------------------

  private async snapshot(origin: string): Promise<TaskSnapshot> {
    const urls = await outputUrls(this.env, this.store.outputs(), origin);
    const t = this.store.task();
    if (!t) throw new ClipyardError('task.not_found', 'no such task', { status: 404 });
    return this.withExtras(snapshotOf(t, this.store.steps(), this.store.outputs(), urls));
  }

  /** The snapshot with its run timeline, its request body and (with a webhook) its deliveries. */
  private withExtras(s: TaskSnapshot): TaskSnapshot {
    const extras = { timeline: this.timeline.timeline(), request: this.timeline.request() };
    return this.webhooks.target() ? { ...s, ...extras, webhooks: this.webhooks.deliveries() } : { ...s, ...extras };
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
}
