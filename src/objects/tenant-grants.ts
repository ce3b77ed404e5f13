/**
 * The TenantObject's slot hand-off: each free slot given to the head of the line (inside the
 * caller's transaction), one `slotGranted` call to each task that got one, grants the tasks have not
 * acknowledged sent again from the tenant's alarm, and, while someone waits on full slots, the slots
 * of holders that ended without saying so reclaimed by that alarm. Holds when the alarm is set for.
 * Used only by TenantObject (tenant-object.ts), whose slots, index and transactions it works through.
 */
import { isTerminal } from '../lib/task-status.ts';
import type { TaskStatus } from '../protocol/task.ts';
import { retryOnReset } from './idle-release.ts';
import type { TaskInit } from './task-intake.ts';
import type { TenantIndex } from './tenant-index.ts';
import type { TenantSlots } from './tenant-slots.ts';

/**
 * A slot holder whose last report is younger than this is taken at its word (running tasks report every
 * half stall timeout, 15 s by default); older or unknown holders are asked before their slot is kept.
 */
const HOLDER_FRESH_MS = 60_000;
/** A grant the task has not acknowledged is sent again after this long. */
const GRANT_RESEND_MS = 5_000;
/** While someone waits on full slots, the holders are checked this often. */
const RECLAIM_EVERY_MS = 15_000;

/** What the hand-off works through: the tenant object's state and its transactions. */
export interface GrantHost {
  ctx: DurableObjectState;
  /** read at each call (tests swap the object's env) */
  env(): Env;
  slots: TenantSlots;
  index: TenantIndex;
  /** a transaction that writes through the slots' and the index's in-memory copies */
  tx<T>(fn: () => T): T;
  /** the concurrency limit */
  limit(): number;
  /** grants the tasks acknowledged (id -> when), written with the next transaction */
  acks: Map<string, number>;
}

export class TenantGrants {
  private readonly host: GrantHost;
  /** When the alarm is set for (null: not set), as this instance last set or read it. */
  alarmAt: number | null = null;

  constructor(host: GrantHost) {
    this.host = host;
  }

  /**
   * Inside the caller's transaction: give each free slot to the task at the head of the line. The
   * grants stay unacknowledged (the index row queued) until each task says it took its slot.
   * Returns the ids to tell.
   */
  handOff(limit: number): string[] {
    const heads = this.host.slots.heads(limit - this.host.slots.used());
    const now = Date.now();
    for (const id of heads) {
      // a task taken in by intake is handed its slot by its list row alone (tenant-slots.ts)
      const inListRow = this.host.slots.hasInit(id) && this.host.index.handed(id, now);
      this.host.slots.take(id, now, true, null, inListRow);
    }
    return heads;
  }

  /**
   * One call to each task that got a slot, which starts it. A task that took it is acknowledged (its
   * index row now says running); one that no longer needs it gives it back, and the slot goes on to
   * the next in line. A call that fails leaves the grant unacknowledged, for the alarm to send again.
   */
  async tellGranted(ids: readonly string[]): Promise<void> {
    let next = ids;
    while (next.length > 0) {
      const answers = await Promise.all(
        next.map((id) =>
          // a task object that released itself from memory as the grant arrived gets it once more
          // a task taken in by intake and not made yet is made by this call, from its init
          retryOnReset(
            () => this.host.env().TASKS.getByName(id),
            (task) => task.slotGranted(this.initOf(id)),
          ).then(
            (took) => ({ id, took: took !== false }),
            (err: unknown) => {
              console.warn(
                JSON.stringify({ level: 'warn', msg: 'slot hand-off failed', task: id, error: String(err) }),
              );
              return { id, took: null };
            },
          ),
        ),
      );
      const now = Date.now();
      // An acknowledgement is written with the next transaction (a commit of its own per hand-off
      // cost more than the row): lost in a restart, it only means the grant is sent once more.
      for (const a of answers) {
        if (a.took !== true || !this.host.slots.isUnacknowledged(a.id)) continue;
        this.host.slots.acknowledged(a.id);
        this.host.acks.set(a.id, now);
      }
      const unneeded = answers.filter((a) => a.took === false && this.host.slots.holds(a.id)).map((a) => a.id);
      next =
        unneeded.length === 0
          ? []
          : this.host.tx(() => {
              for (const id of unneeded) this.host.slots.drop(id);
              return this.handOff(this.host.limit());
            });
      if (answers.some((a) => a.took === null)) await this.arm(now);
    }
  }

  /** The create init kept for a task taken in by intake (null: none, its object has its row). */
  private initOf(id: string): TaskInit | null {
    const kept = this.host.slots.initOf(id);
    return kept === null ? null : (JSON.parse(kept) as TaskInit);
  }

  async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    try {
      // every grant still unacknowledged (slotGranted is idempotent: a second call costs nothing)
      await this.tellGranted(this.host.slots.unacknowledged().map((g) => g.taskId));
      const limit = this.host.limit();
      if (this.host.slots.lineLength() > 0 && this.host.slots.used() >= limit) await this.reclaim(now);
      await this.tellGranted(this.host.tx(() => this.handOff(limit)));
    } finally {
      await this.arm(Date.now());
    }
  }

  /**
   * Arm the alarm when it has work: an unacknowledged grant to send again, or a line waiting on full
   * slots. Never later than it is set already; an early alarm that finds nothing to do disarms.
   */
  async arm(now: number): Promise<void> {
    let due: number | null = null;
    for (const g of this.host.slots.unacknowledged()) {
      const at = Math.max(now, g.grantedAt + GRANT_RESEND_MS);
      if (due === null || at < due) due = at;
    }
    if (this.host.slots.lineLength() > 0 && this.host.slots.used() >= this.host.limit()) {
      const at = now + RECLAIM_EVERY_MS;
      if (due === null || at < due) due = at;
    }
    if (due === null || (this.alarmAt !== null && this.alarmAt <= due)) return;
    this.alarmAt = due;
    await this.host.ctx.storage.setAlarm(due);
  }

  /**
   * Free the slots of holders that no longer need them. The index answers for most holders without a
   * call: a holder it shows ended gives its slot up at once, one that reported recently keeps it; only
   * holders the index knows nothing fresh about are asked (`needsSlot`).
   */
  private async reclaim(now: number): Promise<void> {
    const ask: string[] = [];
    const ended: string[] = [];
    for (const h of this.host.index.holderReports()) {
      // a grant on its way (perhaps to a task not made yet) is sent again, never reclaimed
      if (this.host.slots.isUnacknowledged(h.taskId)) continue;
      if (h.status !== null && isTerminal(h.status as TaskStatus)) ended.push(h.taskId);
      else if (h.status === null || h.updatedAt === null || now - h.updatedAt > HOLDER_FRESH_MS) ask.push(h.taskId);
    }
    const answers = await Promise.all(
      ask.map((taskId) =>
        this.host
          .env()
          .TASKS.getByName(taskId)
          .needsSlot()
          .then(
            (needs) => ({ taskId, needs }),
            () => ({ taskId, needs: true }),
          ),
      ),
    );
    const unneeded = [...ended, ...answers.filter((a) => !a.needs).map((a) => a.taskId)];
    if (unneeded.length === 0) return;
    this.host.tx(() => {
      for (const id of unneeded) this.host.slots.drop(id);
    });
  }
}
