/**
 * Lifecycle rules the objects must carry out (the decisions themselves are table-tested in
 * test/unit/task-lifecycle.test.ts): a manual retry keeps the task's own attempt budget, an alarm
 * whose slot request fails still wakes the task again, and a status event says the task's progress.
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { newTaskId } from '../../src/lib/ids.ts';
import { SLOT_ERROR_RECHECK_MS } from '../../src/lib/task-lifecycle.ts';
import type { TaskObject } from '../../src/objects/task-object.ts';
import { TaskStore } from '../../src/objects/task-store.ts';
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import { call, createTask, ORIGIN } from './helpers.ts';

const BUSY_TASK = { input: { url: 'http://127.0.0.1:1/busy/clip.mp4' }, steps: [{ op: 'audio', format: 'mp3' }] };

async function snapshotOf(id: string): Promise<TaskSnapshot> {
  return (await (await call(`/api/tasks/${id}`)).json()) as TaskSnapshot;
}

/** Fire the task's alarm until it reaches `status`. */
async function alarmUntil(id: string, status: string): Promise<TaskSnapshot> {
  const stub = env.TASKS.getByName(id);
  for (let i = 0; i < 60; i++) {
    const s = await snapshotOf(id);
    if (s.status === status) return s;
    await runDurableObjectAlarm(stub);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`task ${id} never became ${status}`);
}

describe('task lifecycle in the object', () => {
  it('a manual retry grants the task its own maxAttempts again, not the server default', async () => {
    const { json } = await createTask({ ...BUSY_TASK, maxAttempts: 1 });
    const failed = await alarmUntil(json.id, 'failed');
    expect(failed).toMatchObject({ attempt: 1, maxAttempts: 1 });
    const retried = (await (await call(`/api/tasks/${json.id}/retry`, { method: 'POST' })).json()) as TaskSnapshot;
    // one more attempt, as the task asked for one per run (the server default here is 3)
    expect(retried).toMatchObject({ status: 'queued', attempt: 2, maxAttempts: 2 });
    const again = await alarmUntil(json.id, 'failed');
    expect(again).toMatchObject({ attempt: 2, maxAttempts: 2 });
  });

  it('an alarm whose slot request throws still re-arms, and the task starts once the tenant answers', async () => {
    const id = newTaskId();
    const stub = env.TASKS.getByName(id);
    // the tenant put the task in line at create; its safety-net ask then finds the tenant unreachable
    const tenants = {
      getByName: () => ({
        enter: async () => ({ ok: true, granted: false }),
        acquire: async () => {
          throw new Error('tenant unreachable');
        },
      }),
    };
    await runInDurableObject(stub, async (instance: TaskObject, state) => {
      const holder = instance as unknown as { env: Env };
      const real = holder.env;
      holder.env = new Proxy(real, { get: (t, k) => (k === 'TENANTS' ? tenants : Reflect.get(t, k)) });
      try {
        await instance.create({
          id,
          tenant: 'local',
          body: { input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' }] },
          inputKey: null,
          bodyHash: 'h',
          origin: ORIGIN,
        });
        // as if the alarm had just fired (and so was consumed), with the tenant failing
        await state.storage.deleteAlarm();
        const firedAt = Date.now();
        await instance.alarm().catch(() => {});
        const next = await state.storage.getAlarm();
        expect(next).not.toBeNull();
        expect(next!).toBeLessThanOrEqual(Date.now() + SLOT_ERROR_RECHECK_MS);
        expect(next!).toBeGreaterThanOrEqual(firedAt);
      } finally {
        holder.env = real;
      }
    });
    // the tenant answers again: the next alarm (the re-armed one, or fired here) starts the task
    await alarmUntil(id, 'running');
    await call(`/api/tasks/${id}/cancel`, { method: 'POST' });
  });

  it('each status event carries the overall progress after the move', async () => {
    const { json } = await createTask(BUSY_TASK);
    await alarmUntil(json.id, 'failed');
    await runInDurableObject(env.TASKS.getByName(json.id), (_obj, state) => {
      const bodies = new TaskStore(state.storage).eventsAfter(0).filter((e) => e.kind === 'status');
      expect(bodies.length).toBeGreaterThan(2);
      for (const b of bodies) expect(typeof b.progress).toBe('number');
    });
  });
});
