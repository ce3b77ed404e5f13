/**
 * Intake: a task is taken in by its tenant (TenantObject.intake: quota, index row, slot or place in
 * line, and this init kept in its lane row, one transaction) and its TaskObject is made only when it
 * can run or is looked at. This module holds both ends of that:
 *
 * - `intakeSnapshot`: the snapshot the create's 202 answers with, built from the init alone (pure).
 *   It is exactly the snapshot of the object's first state (queued, seq 1, created at the intake
 *   time), so a subscriber may pass its seq as `after=`.
 * - `TaskMaker`: inside a TaskObject, the task row written from the init with the lifecycle's
 *   `slot_granted` (the tenant's hand-off, or a look at a task already handed a slot) or
 *   `slot_denied` (a look at a task still in line), in one transaction and one INSERT: the row is
 *   stored already running (or waiting), while its events are still seq 1 queued, then the move's
 *   (TaskStore.create's `then`). A call that finds no task row asks the requesting
 *   tenant whether it holds the id (`fromTenant`); another tenant's id stays unknown. The older way
 *   in, a create through the object itself (`enter`: the tenant asked first, then the row written),
 *   is kept for a batch's children and for a replay the tenant cannot check.
 *
 * The first events of a task made late carry the intake time (its `queued` status, seq 1), so its
 * timeline's wait runs from the intake to the hand-off. Used by TaskObject and the create route.
 */
import type { DailyLimits } from '../lib/quota.ts';
import type { LifecycleInput } from '../lib/task-lifecycle.ts';
import { TimelineModel } from '../lib/timeline-model.ts';
import { ClipyardError } from '../protocol/errors.ts';
import type { CreateTaskBody, TaskSnapshot } from '../protocol/task.ts';
import type { WebhookTarget } from '../protocol/webhook.ts';
import type { RunTimeline } from './run-timeline.ts';
import { newTaskRow, type StepRow, toTask } from './task-rows.ts';
import { fromBaseline } from './task-schema.ts';
import { snapshotOf } from './task-snapshot.ts';
import type { TaskStore } from './task-store.ts';
import type { EntryAnswer } from './tenant-object.ts';
import { newIndexEntry } from './tenant-report.ts';
import type { WebhookOutbox } from './webhook-outbox.ts';

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
  /** the daily quotas it is admitted against (the Worker's config; this object's when not given) */
  limits?: DailyLimits;
}

/** A create init as the tenant keeps it: with the time it was taken in (the task's creation time). */
export interface TaskInit extends CreateTaskInit {
  at: number;
}

/** What the tenant answers a look at an id it may hold (TenantObject.lookup). */
export interface HeldTask {
  init: TaskInit;
  /** handed a slot (its grant may be on its way) rather than waiting in line */
  granted: boolean;
}

/**
 * The snapshot of a task just taken in, from its init alone: what its object's first state will be
 * (queued at seq 1, every step pending, created `at`). `maxAttempts` is the task's own or the config's.
 */
export function intakeSnapshot(init: CreateTaskInit, at: number, maxAttempts: number): TaskSnapshot {
  const body = init.body;
  const { row } = newTaskRow(newTaskOf(init, at, maxAttempts));
  const steps = JSON.parse(String(row.steps)) as StepRow[];
  const timeline = new TimelineModel();
  timeline.created(at);
  const s: TaskSnapshot = {
    ...snapshotOf(toTask({ ...ROW_DEFAULTS, ...row }), steps, []),
    timeline: timeline.attempts,
    request: JSON.parse(JSON.stringify(body)) as unknown,
  };
  return init.webhook ? { ...s, webhooks: [] } : s;
}

/** The task row's columns a create INSERT leaves to their SQL defaults (task-schema.ts). */
const ROW_DEFAULTS = { progress: 0, attempt: 1, current_step: 0, job_seq: 0, seq_reserved: 0 } as const;

function newTaskOf(init: CreateTaskInit, at: number, maxAttempts: number) {
  const body = init.body;
  return {
    id: init.id,
    tenant: init.tenant,
    input: body.input,
    inputKey: init.inputKey,
    steps: body.steps,
    maxAttempts,
    label: body.label ?? null,
    bodyHash: init.bodyHash,
    batchId: init.batch ?? null,
    now: at,
  };
}

/** What TaskMaker works through: the task object's parts. */
export interface MakerHost {
  ctx: DurableObjectState;
  env(): Env;
  store: TaskStore;
  timeline: RunTimeline;
  webhooks: WebhookOutbox;
  /** the task's attempts when its body names none */
  maxAttempts(): number;
  /**
   * one lifecycle input, settled once its effects have; with `within`, its move's write is handed to
   * `within` to run (inside the new row's transaction). Its write is done when this returns.
   */
  perform(input: LifecycleInput, within?: (write: () => void) => void): Promise<void>;
}

/** A new task's first lifecycle input: its tenant's answer (a slot, or a place in line). */
function firstMove(granted: boolean, now: number): LifecycleInput {
  return granted ? { kind: 'slot_granted', now } : { kind: 'slot_denied', now };
}

export class TaskMaker {
  private readonly host: MakerHost;
  /** When this instance deleted a task that had no row yet (a hand-off sent before then is stale). */
  private removedAt = 0;

  constructor(host: MakerHost) {
    this.host = host;
  }

  /**
   * Write the task row from its init: queued, its first event at `at`, its timeline and request body,
   * its webhook target. Synchronous: no other call runs between the check for a row and this write.
   */
  write(init: CreateTaskInit, at: number, then?: () => void): void {
    const { store, timeline, webhooks } = this.host;
    const body = init.body;
    // the store writes the timeline and the request body with the task row
    timeline.created(body, at);
    // `then` (the first move) is written with the row, in its one INSERT
    store.create(newTaskOf(init, at, body.maxAttempts ?? this.host.maxAttempts()), then);
    // a schema just created from the baseline has no outbox tables: no lookup later
    if (fromBaseline(this.host.ctx.storage)) webhooks.noTables();
    // a new task's outbox is empty: only a target is written
    if (init.webhook) webhooks.setTarget(init.webhook, init.origin);
  }

  /**
   * A create through this object (a batch's child, or a replay the tenant could not check): ask the
   * tenant once (`enter`: quota, index row, slot or place in line), then write the row. A refusal
   * comes back as a value and nothing is written; an unreachable tenant is tenant.unavailable; a
   * write that fails gives the tenant's admission, row and slot back (storage.failed).
   */
  async enter(init: CreateTaskInit, now: number, maxConcurrent: number, limits: DailyLimits): Promise<EntryAnswer> {
    const body = init.body;
    const entry = newIndexEntry({ id: init.id, input: body.input, steps: body.steps, label: body.label ?? null }, now);
    const tenant = this.host.env().TENANTS.getByName(init.tenant);
    let answer: EntryAnswer;
    try {
      answer = await tenant.enter(entry, maxConcurrent, init.limits ?? limits);
    } catch (err) {
      console.warn(JSON.stringify({ level: 'warn', msg: 'tenant enter failed', task: init.id, error: String(err) }));
      throw new ClipyardError('tenant.unavailable', 'the task could not be admitted just now; try again', {
        status: 503,
        retryable: true,
      });
    }
    if (!answer.ok) return answer;
    let moved: Promise<void>;
    try {
      // the row and its first move (the tenant's answer), one row written
      moved = this.host.perform(firstMove(answer.granted, now), (move) => this.write(init, now, move));
    } catch (err) {
      // the tenant said yes but nothing was written: its admission, row and slot go back
      console.error(JSON.stringify({ level: 'error', msg: 'task create failed', task: init.id, error: String(err) }));
      this.host.ctx.waitUntil(tenant.leave(init.id).catch(() => {}));
      throw new ClipyardError('storage.failed', 'the task could not be stored just now; try again', {
        status: 503,
        retryable: true,
      });
    }
    await moved;
    return answer;
  }

  /**
   * Make the task from its tenant's init, unless it exists already: then, granted, it starts
   * (slot_granted); in line, it waits (slot_denied). Answers whether the task is there now: false
   * for an init older than this instance's delete of the task (a stale hand-off).
   */
  async make(init: TaskInit, granted: boolean): Promise<boolean> {
    const input = firstMove(granted, Date.now());
    if (this.host.store.task()) {
      await this.host.perform(input);
      return true;
    }
    if (init.at <= this.removedAt) return false;
    // the row and the grant's move (or the denial's) in one transaction and one row written: the row
    // is inserted running, its events still seq 1 queued and then the grant's
    await this.host.perform(input, (move) => this.write(init, init.at, move));
    return true;
  }

  /**
   * A call found no task row: ask `tenant` whether it holds this object's id (taken in, not yet
   * handed over) and, if so, make the task as the tenant has it. Answers whether the task exists now.
   * A hand-off (or another look) that arrives while the tenant is asked makes the same one task:
   * whoever writes first writes the row, the other finds it.
   */
  async fromTenant(tenant: string): Promise<boolean> {
    const held = await this.lookup(tenant);
    if (this.host.store.task()) return true;
    if (!held || held.init.tenant !== tenant) return false;
    return this.make(held.init, held.granted);
  }

  /**
   * Delete a task that has no row yet: the tenant forgets it (its index row, its place in line or
   * slot). Answers 'unknown' when `tenant` does not hold it, 'made' when a hand-off made its row
   * meanwhile (the caller then deletes it as any other task).
   */
  async removeUnmade(tenant: string): Promise<'removed' | 'unknown' | 'made'> {
    const held = await this.lookup(tenant);
    if (this.host.store.task()) return 'made';
    if (!held || held.init.tenant !== tenant) return 'unknown';
    this.removed();
    const id = this.host.ctx.id.name ?? held.init.id;
    await this.host.env().TENANTS.getByName(tenant).forget(id);
    return 'removed';
  }

  /** This instance deleted the task: a hand-off sent before now is stale. */
  removed(): void {
    this.removedAt = Date.now();
  }

  private async lookup(tenant: string): Promise<HeldTask | null> {
    const id = this.host.ctx.id.name;
    if (!id) return null;
    try {
      return await this.host.env().TENANTS.getByName(tenant).lookup(id);
    } catch (err) {
      console.warn(JSON.stringify({ level: 'warn', msg: 'tenant lookup failed', task: id, error: String(err) }));
      throw new ClipyardError('tenant.unavailable', 'the task could not be looked up just now; try again', {
        status: 503,
        retryable: true,
      });
    }
  }
}
