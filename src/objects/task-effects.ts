/**
 * Carries out the effects of a task's lifecycle moves (see lib/task-lifecycle.ts `Effect`): the
 * driver, the runner, the tenant, the batch, the sockets, and the alarm's housekeeping. It decides
 * nothing: an answer that is itself a lifecycle input (the tenant's answer to a slot request) goes
 * back to the object through `perform`. Used only by TaskObject.
 */
import type { Effect, LifecycleInput } from '../lib/task-lifecycle.ts';
import type { BatchReporter } from './batch-report.ts';
import type { TaskConfig } from './config.ts';
import { runnerFor } from './runner.ts';
import type { TaskDriver } from './task-driver.ts';
import type { TaskSockets } from './task-sockets.ts';
import type { TaskStore } from './task-store.ts';
import { indexEntryOf, type TenantReporter } from './tenant-report.ts';

export interface EffectDeps {
  env: Env;
  ctx: DurableObjectState;
  store: TaskStore;
  driver: TaskDriver;
  tenant: TenantReporter;
  batch: BatchReporter;
  sockets: TaskSockets;
  config(): TaskConfig;
  /** decide and carry out a further lifecycle input, settling once its effects have */
  perform(input: LifecycleInput): Promise<void>;
}

export class TaskEffects {
  private readonly deps: EffectDeps;

  constructor(deps: EffectDeps) {
    this.deps = deps;
  }

  /** Carry out one effect of a move (in the order the move lists them). */
  async run(effect: Effect): Promise<void> {
    switch (effect.kind) {
      case 'acquire_slot':
        return this.acquireSlot();
      case 'start_driver':
        this.deps.driver.start();
        return;
      case 'abandon_driver':
        this.deps.driver.abandon();
        return;
      case 'reattach_driver':
        this.deps.driver.abandon();
        this.deps.driver.reattachedAfterStall = true;
        this.deps.driver.start();
        return;
      case 'delete_job': {
        const deleting = this.deps.driver.deleteJob(effect.jobId);
        if (effect.wait) await deleting;
        else this.deps.ctx.waitUntil(deleting);
        return;
      }
      case 'keep_alive':
        await runnerFor(this.deps.env, this.deps.store.task()?.id ?? 'task')
          .keepAlive()
          .catch(() => {});
        return;
      case 'tenant_heartbeat':
        this.deps.tenant.heartbeat(effect.at, this.deps.config().stallTimeoutMs);
        return;
      case 'tell_tenant':
        if (effect.finish) this.deps.tenant.finish();
        else this.deps.tenant.record();
        return;
      case 'release_slot':
        this.deps.tenant.finish();
        return;
      case 'tell_batch':
        this.deps.batch.statusChanged();
        return;
      case 'close_sockets':
        this.deps.sockets.closeAll(effect.reason);
        return;
      case 'housekeeping':
        this.deps.store.compact();
        await this.expireOutputs(Date.now());
        return;
    }
  }

  /**
   * Ask the tenant for a slot; its answer is the next lifecycle input. A tenant that cannot be
   * reached is an answer too (slot_error: ask again shortly), so the alarm is always re-armed.
   */
  private async acquireSlot(): Promise<void> {
    const t = this.deps.store.task();
    if (!t) return;
    // the index row it will have once running: the grant's move appends one event, seq + 1
    const running = {
      ...indexEntryOf(this.deps.store)!,
      status: 'running' as const,
      message: 'starting',
      seq: t.seq + 1,
    };
    let input: LifecycleInput;
    try {
      const grant = await this.deps.env.TENANTS.getByName(t.tenant).acquire(
        t.id,
        this.deps.config().maxConcurrentTasks,
        running,
      );
      input = grant.granted ? { kind: 'slot_granted', now: Date.now() } : { kind: 'slot_denied', now: Date.now() };
    } catch (err) {
      console.warn(JSON.stringify({ level: 'warn', msg: 'slot request failed', task: t.id, error: String(err) }));
      input = { kind: 'slot_error', now: Date.now() };
    }
    await this.deps.perform(input);
  }

  private async expireOutputs(now: number): Promise<void> {
    const expired = this.deps.store.outputs().filter((o) => o.expiresAt <= now);
    if (expired.length === 0) return;
    await this.deps.env.BUCKET.delete(expired.map((o) => o.key));
    for (const o of expired) {
      this.deps.store.removeOutput(o.name);
      const e = this.deps.store.appendEvent({
        kind: 'log',
        step: o.step,
        level: 'info',
        message: `output ${o.name} expired and was deleted`,
      });
      this.deps.sockets.broadcast(e);
    }
  }
}
