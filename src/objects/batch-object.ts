/**
 * BatchObject: one Durable Object per batch of tasks, the source of truth for the batch's children,
 * counts, aggregate progress and event log. Each child is an ordinary task with its own TaskObject.
 *
 * The Worker calls its RPC methods (create, get, cancel, archive); its fetch handles only event subscriptions
 * (WebSocket upgrade, or SSE). The batch creates its children itself and remembers what each was
 * created from, so a child whose create failed is created again by the alarm (task creation is
 * idempotent per id). Children report their status and (throttled) progress here without waiting
 * (batch-report.ts); the alarm asks children that have been quiet for their state while any is
 * unfinished, so a lost report delays the batch but never strands it.
 */
import { DurableObject } from 'cloudflare:workers';
import { isTerminal } from '../lib/task-status.ts';
import { Throttle } from '../lib/throttle.ts';
import type { BatchSnapshot, BatchStatus, ChildOutput, ChildReport } from '../protocol/batch.ts';
import { ClipyardError, type ErrorBody, knownError, type RpcResult, rpcResult, unwrap } from '../protocol/errors.ts';
import type { WebhookTarget } from '../protocol/webhook.ts';
import { migrate } from './batch-schema.ts';
import { BatchSockets } from './batch-sockets.ts';
import { BatchStore, type ChildRow, type NewChild } from './batch-store.ts';
import { socketConfig } from './config.ts';
import { dropIdleSockets } from './socket-guard.ts';
import { Subscribers } from './subscribers.ts';
import type { CreateAnswer } from './task-object.ts';
import { outboxConfig, WebhookOutbox } from './webhook-outbox.ts';

/** Aggregate progress events go out at most this often (leading edge + trailing value). */
const PROGRESS_INTERVAL_MS = 250;
/** While a child is unfinished the alarm looks this often... */
const RECONCILE_INTERVAL_MS = 5_000;
/** ...and asks a child for its state when nothing was heard from it for this long. */
const RECONCILE_AFTER_MS = 15_000;
/** Children created (or asked) at once. */
const CHILD_CALL_CONCURRENCY = 25;
/** A child whose task could not be created after this many tries fails. */
const MAX_CREATE_ATTEMPTS = 5;

export interface CreateBatchInit {
  id: string;
  tenant: string;
  label: string | null;
  bodyHash: string;
  origin: string;
  children: NewChild[];
  /** where `batch.finished` is delivered (checked by the Worker; the tenant's default applied) */
  webhook?: WebhookTarget | null;
}

export interface ArchiveChild {
  index: number;
  id: string;
  label: string | null;
  status: ChildRow['status'];
  message: string;
  error: ErrorBody | null;
  outputs: ChildOutput[];
}

export interface ArchivePlan {
  id: string;
  label: string | null;
  status: BatchStatus;
  children: ArchiveChild[];
}

async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class BatchObject extends DurableObject<Env> {
  private readonly store: BatchStore;
  private readonly sockets: BatchSockets;
  private readonly progress: Throttle<null>;
  private readonly webhooks: WebhookOutbox;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new BatchStore(ctx.storage);
    this.sockets = new BatchSockets(ctx);
    this.progress = new Throttle(PROGRESS_INTERVAL_MS, () => this.emitProgress());
    this.webhooks = new WebhookOutbox(ctx.storage, () => outboxConfig(env, () => this.store.batch()?.tenant ?? null));
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage));
  }

  // ---- RPC (public methods; expected errors return as values, see rpcResult) --------------------

  /**
   * Create the batch and its children's tasks, or return the existing batch for the same id (an
   * Idempotency-Key retry); a different body under the same key is a conflict. Answers once every
   * child's create was tried; children that could not be created yet are retried by the alarm.
   */
  async create(init: CreateBatchInit): Promise<RpcResult<{ snapshot: BatchSnapshot; created: boolean }>> {
    return rpcResult(() => this.createImpl(init));
  }

  /** The batch's snapshot: status, aggregate progress, counts by status and every child. */
  async get(tenant: string): Promise<RpcResult<BatchSnapshot>> {
    return rpcResult(() => {
      this.store.require(tenant);
      return this.snap();
    });
  }

  /** What the archive holds: each child's outputs (with R2 keys); batch.not_finished while running. */
  async archive(tenant: string): Promise<RpcResult<ArchivePlan>> {
    return rpcResult(() => {
      const b = this.store.require(tenant);
      if (b.status === 'running') {
        const c = this.store.counts();
        const unfinished = c.queued + c.running + c.retrying;
        throw new ClipyardError(
          'batch.not_finished',
          `the batch is still running (${unfinished} unfinished); the archive is ready once every task has finished`,
          { status: 409, retryable: true },
        );
      }
      return {
        id: b.id,
        label: b.label,
        status: b.status,
        children: this.store.children().map((c) => ({
          index: c.index,
          id: c.taskId,
          label: c.body.label ?? null,
          status: c.status,
          message: c.message,
          error: c.status === 'failed' ? c.error : null,
          outputs: c.outputs,
        })),
      };
    });
  }

  /**
   * Cancel every unfinished child (a child not yet created is never created); finished children keep
   * their outcome. Answers the snapshot once every cancel was sent.
   */
  async cancel(tenant: string, origin: string): Promise<RpcResult<BatchSnapshot>> {
    return rpcResult(async () => {
      this.store.require(tenant);
      const open = this.store.children().filter((c) => !isTerminal(c.status));
      await eachLimited(open, CHILD_CALL_CONCURRENCY, async (c) => {
        if (!c.created) {
          this.apply({ ...this.goneReport(c), message: 'canceled before it started' });
          return;
        }
        const stub = this.env.TASKS.getByName(c.taskId);
        try {
          await unwrap(stub.cancel(tenant, origin));
        } catch (err) {
          // It finished (or was deleted) meanwhile: its report says how.
          const code = knownError(err)?.code;
          if (code !== 'task.illegal_transition' && code !== 'task.not_found') throw err;
        }
        // a new stub: an ended task may have left memory since (idle-release.ts), breaking the old one
        this.apply((await this.env.TASKS.getByName(c.taskId).batchReport()) ?? this.goneReport(c));
      });
      return this.snap();
    });
  }

  /** A child task says where it stands (called by the task object, never awaited by it). */
  async childReport(report: ChildReport): Promise<void> {
    this.apply(report);
  }

  private async createImpl(init: CreateBatchInit): Promise<{ snapshot: BatchSnapshot; created: boolean }> {
    const existing = this.store.batch();
    if (existing) {
      if (existing.tenant !== init.tenant || existing.bodyHash !== init.bodyHash) {
        throw new ClipyardError('batch.exists', 'this Idempotency-Key was already used for a different batch', {
          status: 409,
        });
      }
      return { snapshot: this.snap(), created: false };
    }
    const now = Date.now();
    this.sockets.broadcast([this.store.create({ ...init, now })]);
    this.webhooks.setTarget(init.webhook ?? null, init.origin);
    // The safety net is armed before any child exists, so no child is ever left uncreated.
    await this.ctx.storage.setAlarm(now + RECONCILE_INTERVAL_MS);
    await this.createChildren();
    return { snapshot: this.snap(), created: true };
  }

  // ---- subscriptions ----------------------------------------------------------------------------

  /** WebSocket upgrade or SSE stream; the Worker has authenticated and set x-clipyard-tenant. */
  override async fetch(request: Request): Promise<Response> {
    const tenant = request.headers.get('x-clipyard-tenant') ?? '';
    const b = this.store.batch();
    if (!b || b.tenant !== tenant) {
      const body = { error: { code: 'batch.not_found', message: 'no such batch', retryable: false } };
      return Response.json(body, { status: 404 });
    }
    const after = Subscribers.afterOf(request);
    const snapshot = this.snap();
    const replay = this.store.eventsAfter(after);
    const ended = snapshot.status !== 'running';
    return this.sockets.subscribe(request, snapshot, replay, ended);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.sockets.onClientMessage(ws, message);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.sockets.onClientClose(ws, code, reason);
  }

  // ---- the alarm: create what is missing, ask the quiet, until every child has finished ----------

  override async alarm(): Promise<void> {
    if (!this.store.batch()) return;
    dropIdleSockets(this.ctx, Date.now(), socketConfig(this.env).idleTimeoutMs);
    await this.webhooks.deliverDue(Date.now());
    await this.createChildren();
    const now = Date.now();
    const quiet = this.store
      .children()
      .filter((c) => c.created && !isTerminal(c.status) && now - c.checkedAt >= RECONCILE_AFTER_MS);
    await eachLimited(quiet, CHILD_CALL_CONCURRENCY, async (c) => {
      try {
        const report = await this.env.TASKS.getByName(c.taskId).batchReport();
        this.apply(report ?? this.goneReport(c));
      } catch (err) {
        console.warn(
          JSON.stringify({ level: 'warn', msg: 'batch child check failed', task: c.taskId, error: String(err) }),
        );
      }
    });
    this.store.compact();
    await this.scheduleAlarm();
  }

  private async scheduleAlarm(): Promise<void> {
    // A child not yet created is queued, so this also covers creates still to retry.
    const pending = this.store.children().some((c) => !isTerminal(c.status));
    const webhookAt = this.webhooks.nextDueAt();
    if (pending) await this.ctx.storage.setAlarm(Math.min(Date.now() + RECONCILE_INTERVAL_MS, webhookAt ?? Infinity));
    else if (webhookAt !== null) await this.ctx.storage.setAlarm(webhookAt);
    else await this.ctx.storage.deleteAlarm();
  }

  // ---- children ---------------------------------------------------------------------------------

  /** Create every child whose task does not exist yet (idempotent: a task id creates one task). */
  private async createChildren(): Promise<void> {
    const b = this.store.batch();
    if (!b) return;
    const pending = this.store.children().filter((c) => !c.created && !isTerminal(c.status));
    await eachLimited(pending, CHILD_CALL_CONCURRENCY, async (c) => {
      const stub = this.env.TASKS.getByName(c.taskId);
      try {
        // (Typed by hand: the stub's inferred type for a TaskSnapshot result is not usable here.)
        const result = await unwrap(
          stub.create({
            id: c.taskId,
            tenant: b.tenant,
            body: c.body,
            inputKey: c.inputKey,
            bodyHash: c.bodyHash,
            origin: b.origin,
            batch: b.id,
            webhook: c.body.webhook ?? null,
          }) as Promise<unknown> as Promise<RpcResult<CreateAnswer>>,
        );
        // (children are admitted whole with the batch, so only a day's turn can refuse one here)
        if ('refused' in result) throw new ClipyardError(result.refused.code, result.refused.message, { status: 429 });
        if (this.store.child(c.taskId)?.status === 'canceled') {
          // The batch was canceled while this create was on its way.
          try {
            await unwrap(stub.cancel(b.tenant, b.origin));
          } catch {
            /* it already finished */
          }
        }
        // A new task's snapshot says it all; one that already existed may be further along, with
        // outputs, so it is asked for its full report.
        const { snapshot: t } = result;
        const report: ChildReport | null = result.created
          ? {
              taskId: c.taskId,
              status: t.status,
              progress: t.progress,
              message: t.message,
              error: t.error,
              seq: t.seq,
              outputs: [],
            }
          : await stub.batchReport();
        if (report) this.apply(report, { created: true });
      } catch (err) {
        const known = knownError(err);
        const attempts = this.store.noteCreateFailure(c.taskId);
        if ((known && !known.retryable) || attempts >= MAX_CREATE_ATTEMPTS) {
          const error: ErrorBody = known?.toBody() ?? {
            code: 'internal',
            message: `the task could not be created: ${String(err)}`,
            retryable: false,
          };
          this.apply({ ...this.goneReport(c), status: 'failed', message: `failed: ${error.message}`, error });
        }
      }
    });
  }

  /** The report for a child whose task no longer exists (deleted, or never created). */
  private goneReport(c: ChildRow): ChildReport {
    return {
      taskId: c.taskId,
      status: 'canceled',
      progress: c.progress,
      message: 'the task was deleted',
      error: null,
      seq: c.taskSeq + 1,
      outputs: [],
    };
  }

  /** Record a child's report, tell subscribers, and keep the aggregate bar (throttled) moving. */
  private apply(report: ChildReport, opts: { created?: boolean } = {}): void {
    const before = this.store.batch()?.status;
    const events = this.store.applyReport(report, Date.now(), opts);
    this.sockets.broadcast(events);
    const after = this.store.batch()?.status;
    if (after !== before && after !== 'running') {
      // Finished: the store wrote the last progress event (100) with the outcome.
      this.progress.cancel();
      this.webhooks.enqueue('batch.finished', this.snap());
      this.sockets.closeAll('batch finished');
      this.ctx.waitUntil(this.scheduleAlarm());
      return;
    }
    if (after === 'running') {
      this.progress.push(null);
      // A child retried after the batch had finished: watch again.
      if (before !== 'running') this.ctx.waitUntil(this.scheduleAlarm());
    }
  }

  /** The snapshot with its webhook deliveries, when the batch has a webhook. */
  private snap(): BatchSnapshot {
    const s = this.store.snapshot()!;
    return this.webhooks.target() ? { ...s, webhooks: this.webhooks.deliveries() } : s;
  }

  private emitProgress(): void {
    if (this.store.batch()?.status !== 'running') return;
    const e = this.store.appendProgress();
    if (e) this.sockets.broadcast([e]);
  }
}
