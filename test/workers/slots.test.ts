/** Concurrency slots per tenant: a fixed number run at once, the rest wait first come first served. */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { newTaskId } from '../../src/lib/ids.ts';
import { createTask } from './helpers.ts';

describe('tenant slots', () => {
  it('grants up to the limit, queues the rest in order, and hands a freed slot to the head of the line at once', async () => {
    const tenant = env.TENANTS.getByName(`t-${crypto.randomUUID()}`);
    // real task objects, so the tenant can ask holders whether they still need their slot
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await createTask({ input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' }] })).json.id);
    const [a, b, c, d, e] = ids as [string, string, string, string, string];
    expect(await tenant.acquire(a, 2)).toEqual({ granted: true });
    expect(await tenant.acquire(a, 2)).toEqual({ granted: true });
    expect(await tenant.acquire(b, 2)).toEqual({ granted: true });
    expect(await tenant.acquire(c, 2)).toEqual({ granted: false, ahead: 0 });
    await new Promise((r) => setTimeout(r, 2));
    expect(await tenant.acquire(d, 2)).toEqual({ granted: false, ahead: 1 });
    await tenant.release(a);
    // the freed slot went to c, the head of the line, without c asking; d still waits, now first
    expect(await tenant.slotState()).toEqual({ running: [b, c], waiting: [d] });
    expect(await tenant.acquire(d, 2)).toEqual({ granted: false, ahead: 0 });
    expect(await tenant.acquire(c, 2)).toEqual({ granted: true });

    // a holder that ended without releasing (here: deleted) gets its slot reclaimed, and the slot
    // goes to d, ahead of the newcomer e
    await env.TASKS.getByName(b).remove('local');
    expect(await tenant.acquire(e, 2)).toEqual({ granted: false, ahead: 0 });
    expect(await tenant.slotState()).toEqual({ running: [c, d], waiting: [e] });
    expect(await tenant.acquire(d, 2)).toEqual({ granted: true });
  });

  it('never grants a slot to an id nobody holds when the limit is 1', async () => {
    const tenant = env.TENANTS.getByName(`t-${crypto.randomUUID()}`);
    const ghost = newTaskId();
    expect(await tenant.acquire(ghost, 1)).toEqual({ granted: true });
    // the ghost task object does not exist, so it does not need its slot: the next task gets it
    const { json } = await createTask({ input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' }] });
    expect(await tenant.acquire(json.id, 1)).toEqual({ granted: true });
  });

  it('trusts the index: an ended holder frees its slot, a fresh running one keeps it, without asking either', async () => {
    const tenant = env.TENANTS.getByName(`t-${crypto.randomUUID()}`);
    // ghosts: no task object exists for them, so asking would free their slots; the index must decide
    const [ended, running, next] = [newTaskId(), newTaskId(), newTaskId()];
    const entry = (id: string, status: 'succeeded' | 'running') => ({
      id,
      status,
      label: null,
      source: 'http://a.example/x.mp4',
      ops: 'audio',
      progress: 0,
      message: '',
      attempt: 1,
      seq: 2,
      createdAt: Date.now(),
      updatedAt: Date.now(),
    });
    expect(await tenant.acquire(ended, 2)).toEqual({ granted: true });
    expect(await tenant.acquire(running, 2)).toEqual({ granted: true });
    await tenant.record(entry(ended, 'succeeded'));
    await tenant.record(entry(running, 'running'));
    expect(await tenant.acquire(next, 2)).toEqual({ granted: true });
    expect((await tenant.slotState()).running.sort()).toEqual([running, next].sort());
  });

  it('a grant records the task running in the index, whatever order its reports arrive in; finish ends it and frees the slot', async () => {
    const tenant = env.TENANTS.getByName(`t-${crypto.randomUUID()}`);
    const [a, b] = [newTaskId(), newTaskId()];
    const entry = (id: string, status: 'queued' | 'succeeded', seq: number) => ({
      id,
      status,
      label: null,
      source: 'http://a.example/x.mp4',
      ops: 'audio',
      progress: status === 'succeeded' ? 100 : 0,
      message: status === 'succeeded' ? 'done' : 'waiting to start',
      attempt: 1,
      seq,
      createdAt: Date.now(),
      updatedAt: Date.now(),
    });
    const row = async (id: string) => (await tenant.list({})).tasks.find((t) => t.id === id);
    const running = (id: string) => ({ ...entry(id, 'queued', 2), status: 'running' as const, message: 'starting' });
    // a's first report has not arrived yet when it asks for a slot
    expect(await tenant.acquire(a, 1, running(a))).toEqual({ granted: true });
    expect(await row(a)).toMatchObject({ status: 'running', message: 'starting', seq: 2 });
    // ... and when it does arrive, late, it does not turn the row back to queued
    await tenant.record(entry(a, 'queued', 1));
    expect(await row(a)).toMatchObject({ status: 'running' });
    // b waits in line and stays queued in the index
    await tenant.record(entry(b, 'queued', 1));
    expect(await tenant.acquire(b, 1, running(b))).toEqual({ granted: false, ahead: 0 });
    expect(await row(b)).toMatchObject({ status: 'queued' });
    await tenant.finish(entry(a, 'succeeded', 5));
    expect(await row(a)).toMatchObject({ status: 'succeeded', progress: 100, seq: 5 });
    // a's slot went straight to b, recorded running in the same transaction
    expect(await tenant.slotState()).toEqual({ running: [b], waiting: [] });
    expect(await row(b)).toMatchObject({ status: 'running', seq: 2 });
    expect(await tenant.acquire(b, 1, running(b))).toEqual({ granted: true });
    // a late grant never turns an ended task back to running
    expect(await tenant.acquire(a, 2, running(a))).toEqual({ granted: true });
    expect(await row(a)).toMatchObject({ status: 'succeeded' });
  });
});
