/**
 * TenantObject: one per tenant (API key, or `local`).
 *
 * What it owns (the only copy, the source of truth):
 * - the tenant's concurrency slots and the line of tasks waiting for one, first come first served
 *   (tenant-slots.ts);
 * - the daily quotas: tasks admitted and output bytes stored per UTC day (tenant-usage.ts).
 *
 * What it keeps but does not own: the task index (tenant-index.ts; one row per task, for
 * GET /api/tasks and the counts in /api/health). Each task object is the truth about its task; it
 * tells the index on create, on every status change (the row carries the task's event seq, so a late
 * report never overwrites a newer one) and, while running, every half stall timeout; never per
 * progress tick. The index may lag a task by one report.
 *
 * What it never holds: a task's progress stream, events, steps or outputs, and nothing waits on it
 * to answer a task's subscribers.
 *
 * A task costs two calls here: `intake` when it is created (the Worker's one call; in one transaction:
 * count it against the daily quota, write its index row, give it a slot or a place in line and keep
 * its create init there, so its TaskObject is made only when the slot is handed over or someone looks
 * at it, task-intake.ts) and `finish` when it ends (its last row, and its slot back). A batch's
 * children still come in through their own objects (`enter`, asked by TaskObject.create). A freed slot is handed to the head of the line inside the same
 * transaction and only that task is called (`slotGranted`); the grant counts as unacknowledged
 * until the task answers that it took it, and this object's alarm sends unacknowledged grants again.
 * So a waiting task needs no timer of its own but a long safety net. While someone waits on full
 * slots, the same alarm frees the slots of holders that crashed, were deleted or ended without saying
 * so (the index answers for most; the others are asked, `needsSlot`). Nothing here walks the line.
 * The hand-off, the alarm and the reclaim live in tenant-grants.ts.
 *
 * Quotas: an id already indexed or admitted is free, so an Idempotency-Key replay never counts twice;
 * a batch's children are admitted together (`admitMany`) before the batch creates them; task objects
 * add their outputs' sizes as they store them.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Admission, DailyLimits, DailyUsage } from '../lib/quota.ts';
import type { TaskStatus } from '../protocol/task.ts';
import type { WebhookTarget } from '../protocol/webhook.ts';
import { taskConfig } from './config.ts';
import { applyMigrations } from './migrations.ts';
import type { CreateTaskInit, HeldTask, TaskInit } from './task-intake.ts';
import { TenantGrants } from './tenant-grants.ts';
import { runningEntry, type TaskIndexEntry, type TaskListQuery, TenantIndex } from './tenant-index.ts';
import { newIndexEntry } from './tenant-report.ts';
import { TENANT_MIGRATIONS } from './tenant-schema.ts';
import { TenantSlots } from './tenant-slots.ts';
import { TenantUsage } from './tenant-usage.ts';
import { type SecretInfo, TenantWebhooks } from './tenant-webhooks.ts';

export type { TaskIndexEntry, TaskListQuery } from './tenant-index.ts';

/** A quota refusal, as the POST answers it (429 with Retry-After). */
export type QuotaRefusal = Extract<Admission, { ok: false }>;

/**
 * The answer to `intake`: taken in (at `at`, with a slot or a place in line), an id this tenant has
 * already (`verified`: the same body, checked here; otherwise its object compares), the same
 * Idempotency-Key with a different body, or refused by the daily quota.
 */
export type IntakeAnswer =
  | { kind: 'created'; granted: boolean; at: number }
  | { kind: 'replay'; verified: boolean }
  | { kind: 'conflict' }
  | { kind: 'refused'; refusal: QuotaRefusal };

/** The answer to `enter`: refused by the daily quota, or admitted with a slot or a place in line. */
export type EntryAnswer = { ok: true; granted: boolean } | QuotaRefusal;

export class TenantObject extends DurableObject<Env> {
  private readonly quota: TenantUsage;
  private readonly index: TenantIndex;
  private readonly slots: TenantSlots;
  /** The concurrency limit, as the tenant's tasks last asked with it (they read it from the config). */
  private limit = 0;
  private readonly webhooks: TenantWebhooks;
  /**
   * Grants the tasks acknowledged (id -> when), not yet written: their index rows move to running
   * with the next transaction (see tenant-grants.ts).
   */
  private readonly acks = new Map<string, number>();
  private readonly grants: TenantGrants;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.quota = new TenantUsage(ctx.storage);
    this.index = new TenantIndex(ctx.storage.sql);
    this.slots = new TenantSlots(ctx.storage.sql);
    this.webhooks = new TenantWebhooks(ctx.storage);
    this.grants = new TenantGrants({
      ctx,
      env: () => this.env,
      slots: this.slots,
      index: this.index,
      tx: (fn) => this.tx(fn),
      limit: () => this.limitOf(),
      acks: this.acks,
    });
    ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage, TENANT_MIGRATIONS);
      this.grants.alarmAt = await ctx.storage.getAlarm();
      // grants made just before a restart may never have been sent
      await this.grants.arm(Date.now());
    });
  }

  // ---- webhooks (tenant-webhooks.ts) ------------------------------------------------------------

  /** The tenant's webhook signing secret (created on first use) and the rotated-out ones still signing. */
  async webhookSecret(): Promise<SecretInfo> {
    return this.webhooks.current(Date.now());
  }

  /** Rotate the signing secret; the old one keeps signing alongside for `overlapMs`. */
  async rotateWebhookSecret(overlapMs: number): Promise<SecretInfo> {
    return this.webhooks.rotate(Date.now(), overlapMs);
  }

  /** Every secret a delivery is signed with now (current first). */
  async webhookSigningSecrets(): Promise<string[]> {
    return this.webhooks.signingSecrets(Date.now());
  }

  /** The target of tasks and batches created without a webhook of their own. */
  async webhookDefault(): Promise<WebhookTarget | null> {
    return this.webhooks.defaultTarget();
  }

  async setWebhookDefault(target: WebhookTarget | null): Promise<void> {
    this.webhooks.setDefault(target);
  }

  // ---- a task's way in and out --------------------------------------------------------------------

  /**
   * A new task asks to exist (TaskObject.create, before it writes anything): count it against today's
   * quota (free for an id already indexed or admitted), record its index row, and give it a slot or
   * a place at the end of the line, in one transaction. `entry` is its row as created (queued); a
   * granted task is recorded running at the seq of its running event. A refusal writes nothing.
   */
  async enter(entry: TaskIndexEntry, limit: number, limits: DailyLimits): Promise<EntryAnswer> {
    this.rememberLimit(limit);
    const now = Date.now();
    const answer = this.tx((): EntryAnswer => {
      const known = this.index.createdAt(entry.id) !== null || this.quota.wasAdmitted(entry.id);
      if (!known) {
        const verdict = this.quota.count(limits, now);
        if (!verdict.ok) return verdict;
      }
      const granted = this.grantOrQueue(entry.id, now, limit);
      this.index.upsert(granted ? runningEntry(entry, now) : entry);
      return { ok: true, granted };
    });
    await this.grants.arm(now);
    return answer;
  }

  /**
   * Take a new task in (the API's create; task-intake.ts): count it against today's quota, record its
   * index row, give it a slot or a place at the end of the line, and keep `init` (with the intake
   * time) in its lane row for its object to be made from, in one transaction. The answer does not
   * wait for the object: a granted task is handed its slot, with the init, once this has committed
   * (unacknowledged until it answers, so the alarm sends it again if that call is lost). An id this
   * tenant holds already is a replay, checked here while its init is kept; a refusal writes nothing.
   */
  async intake(init: CreateTaskInit, limit: number, limits: DailyLimits): Promise<IntakeAnswer> {
    this.rememberLimit(limit);
    const now = Date.now();
    const answer = this.tx((): IntakeAnswer => {
      const kept = this.slots.initOf(init.id);
      if (kept !== null) {
        const same = (JSON.parse(kept) as TaskInit).bodyHash === init.bodyHash;
        return same ? { kind: 'replay', verified: true } : { kind: 'conflict' };
      }
      if (this.index.createdAt(init.id) !== null) return { kind: 'replay', verified: false };
      // counted by its list row (tenant-usage.ts), unless admitted ahead
      const counted = !this.quota.wasAdmitted(init.id);
      if (counted) {
        const verdict = this.quota.count(limits, now, 1, true);
        if (!verdict.ok) return { kind: 'refused', refusal: verdict };
      }
      const body = init.body;
      const entry = newIndexEntry(
        { id: init.id, input: body.input, steps: body.steps, label: body.label ?? null },
        now,
      );
      const kept2 = JSON.stringify({ ...init, at: now } satisfies TaskInit);
      const granted = this.grantOrQueue(init.id, now, limit, kept2);
      this.index.upsert(granted ? runningEntry(entry, now) : entry, counted);
      if (counted) this.quota.rowCounted(now, 1);
      return { kind: 'created', granted, at: now };
    });
    if (answer.kind === 'created' && answer.granted) this.ctx.waitUntil(this.grants.tellGranted([init.id]));
    await this.grants.arm(now);
    return answer;
  }

  /**
   * A task object with no row asks whether this tenant took its id in and has not handed it over:
   * its init, and whether it holds a slot. Null for an id this tenant does not hold that way.
   */
  async lookup(taskId: string): Promise<HeldTask | null> {
    const kept = this.slots.initOf(taskId);
    if (kept === null) return null;
    return { init: JSON.parse(kept) as TaskInit, granted: this.slots.holds(taskId) };
  }

  /**
   * Give back everything `enter` gave a task whose create then failed (its row could not be written):
   * the quota count, the index row, the slot or place in line.
   */
  async leave(taskId: string): Promise<void> {
    const granted = this.tx(() => {
      const admitted = this.quota.unadmit(taskId);
      const removed = this.index.remove(taskId);
      // a counted row's removal gives its count back; another's is in `usage`
      if (removed?.counted) this.quota.rowCounted(removed.createdAt, -1);
      else if (!admitted && removed) this.quota.uncount(removed.createdAt);
      this.slots.drop(taskId);
      return this.grants.handOff(this.limitOf());
    });
    await this.grants.tellGranted(granted);
  }

  /** Record a task's latest state; ignored when a newer report is already stored. */
  async record(entry: TaskIndexEntry): Promise<void> {
    this.tx(() => this.index.upsert(entry));
  }

  /** A task ended: record its last state and give its slot (or place in line) back, in one call. */
  async finish(entry: TaskIndexEntry): Promise<void> {
    const granted = this.tx(() => {
      this.index.upsert(entry);
      this.slots.drop(entry.id);
      return this.grants.handOff(this.limitOf());
    });
    await this.grants.tellGranted(granted);
  }

  /** Forget a deleted task (and any slot or place in line it had); its quota count stays. */
  async forget(id: string): Promise<void> {
    const granted = this.tx(() => {
      const removed = this.index.remove(id);
      if (removed?.counted) this.quota.keepCount(removed.createdAt);
      this.slots.drop(id);
      return this.grants.handOff(this.limitOf());
    });
    await this.grants.tellGranted(granted);
  }

  /**
   * Take a concurrency slot for `taskId`, or join the line: the safety net of a task that waited long
   * (a lost grant) and the way back in of a manually retried one. Calling it again while holding a
   * slot is harmless and acknowledges a grant. `ifGranted` is the task's index row as it will be once
   * it runs (its seq that of the running event); a grant records it in the same transaction.
   */
  async acquire(taskId: string, limit: number, ifGranted?: TaskIndexEntry): Promise<{ granted: boolean }> {
    this.rememberLimit(limit);
    const now = Date.now();
    const granted = this.tx(() => {
      const g = this.grantOrQueue(taskId, now, limit);
      if (g) {
        this.slots.acknowledged(taskId);
        if (ifGranted) this.index.upsert(ifGranted);
      }
      return g;
    });
    await this.grants.arm(now);
    return { granted };
  }

  /** Give a slot back (or leave the line); a freed slot goes to the head of the line. */
  async release(taskId: string): Promise<void> {
    const granted = this.tx(() => {
      this.slots.drop(taskId);
      return this.grants.handOff(this.limitOf());
    });
    await this.grants.tellGranted(granted);
  }

  /** Slots held, and the line. */
  async slotState(): Promise<{ running: string[]; waiting: string[] }> {
    return this.slots.state();
  }

  /**
   * Inside the caller's transaction: a slot for `taskId` if one is free and nobody waits ahead of it
   * (FIFO: only the first `free` in line may take one), else a place at the end of the line. `init`:
   * the create init of a task taken in by intake, kept in its lane row.
   */
  private grantOrQueue(taskId: string, now: number, limit: number, init: string | null = null): boolean {
    if (this.slots.holds(taskId)) return true;
    const free = limit - this.slots.used();
    if (free > 0 && (this.slots.lineLength() === 0 || this.slots.heads(free).includes(taskId))) {
      // a task taken in by intake has no object yet: its grant is unacknowledged until it is made
      this.slots.take(taskId, now, init !== null, init);
      return true;
    }
    // a task that held a slot before (a retry) must not look handed one when the object wakes
    if (init === null) this.index.clearHanded(taskId);
    this.slots.join(taskId, now, init);
    return false;
  }

  /** Grants sent again, slots reclaimed while someone waits (tenant-grants.ts). */
  override async alarm(): Promise<void> {
    await this.grants.alarm();
  }

  /** A transaction that writes through the slots' and the index's in-memory copies: a rollback drops them. */
  private tx<T>(fn: () => T): T {
    const acks = [...this.acks];
    this.acks.clear();
    try {
      return this.ctx.storage.transactionSync(() => {
        for (const [id, at] of acks) this.index.markRunning(id, at);
        return fn();
      });
    } catch (err) {
      this.slots.invalidate();
      this.index.invalidate();
      this.quota.invalidate();
      for (const [id, at] of acks) this.acks.set(id, at);
      throw err;
    }
  }

  private rememberLimit(limit: number): void {
    this.limit = limit;
  }

  private limitOf(): number {
    return this.limit > 0 ? this.limit : taskConfig(this.env).maxConcurrentTasks;
  }

  // ---- daily quotas (see tenant-usage.ts) -------------------------------------------------------

  /** Today's usage (UTC). */
  async usage(nowMs: number = Date.now()): Promise<DailyUsage> {
    return this.quota.usage(nowMs);
  }

  /**
   * Count a task against today's quota ahead of its create, or refuse it (quota.tasks /
   * quota.output_bytes with the seconds until the quota resets). A task id already admitted is free.
   */
  async admit(taskId: string, limits: DailyLimits, nowMs: number = Date.now()): Promise<Admission> {
    return this.tx(() => this.quota.admit(taskId, limits, nowMs));
  }

  /**
   * Count many tasks (a batch's children) against today's quota, all of them or none; `fresh` are the
   * ids this call counted (the ones to give back if the batch is not created).
   */
  async admitMany(
    taskIds: string[],
    limits: DailyLimits,
    nowMs: number = Date.now(),
  ): Promise<Admission & { fresh: string[] }> {
    return this.tx(() => this.quota.admitAll(taskIds, limits, nowMs));
  }

  /** Give back admissions whose tasks were never created (their create failed). */
  async unadmit(taskId: string): Promise<void> {
    this.tx(() => this.quota.unadmit(taskId));
  }

  async unadmitMany(taskIds: string[]): Promise<void> {
    this.tx(() => {
      for (const id of taskIds) this.quota.unadmit(id);
    });
  }

  /** Count bytes a task stored as output today. */
  async addOutputBytes(bytes: number, nowMs: number = Date.now()): Promise<void> {
    this.quota.addOutputBytes(bytes, nowMs);
  }

  /** Newest first, optionally by status or a substring of the source URL / label. */
  async list(query: TaskListQuery): Promise<{ tasks: TaskIndexEntry[]; cursor: string | null }> {
    if (this.acks.size > 0) this.tx(() => {});
    return this.index.list(query);
  }

  /** Tasks by status, and running tasks whose last report is older than `stallMs`. */
  async counts(stallMs: number): Promise<Record<TaskStatus | 'stalled', number>> {
    if (this.acks.size > 0) this.tx(() => {});
    return this.index.counts(stallMs, Date.now());
  }
}
