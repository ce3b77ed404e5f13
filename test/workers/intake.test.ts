/**
 * Intake: a create is taken in by the tenant alone and its task object is made only when it can run
 * (the slot hand-off) or when it is looked at. The 202's snapshot is the object's first state, a task
 * waiting in line has no object, a look makes it, a lost hand-off is sent again by the tenant's alarm,
 * a look racing a hand-off makes one task, and a delete before the object exists forgets it.
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { newTaskId } from '../../src/lib/ids.ts';
import { taskConfig } from '../../src/objects/config.ts';
import { type CreateTaskInit, intakeSnapshot, type TaskInit } from '../../src/objects/task-intake.ts';
import type { TaskObject } from '../../src/objects/task-object.ts';
import { TaskStore } from '../../src/objects/task-store.ts';
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import { call, createTask, ORIGIN } from './helpers.ts';

/** The fake runner keeps this job running (heartbeats) for 10 s: a holder that stays busy. */
const BODY = { input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' as const }] };
const LIMITS = { tasksPerDay: 1_000, outputBytesPerDay: 0 };

function newTenant() {
  const name = `t-${crypto.randomUUID()}`;
  return { name, stub: env.TENANTS.getByName(name) };
}

function initOf(tenant: string, extra: Partial<CreateTaskInit> = {}): CreateTaskInit {
  return { id: newTaskId(), tenant, body: BODY, inputKey: null, bodyHash: 'h', origin: ORIGIN, ...extra };
}

/** The task row as stored (no look at the tenant: runInDurableObject calls no RPC method). */
function storedTask(id: string) {
  return runInDurableObject(env.TASKS.getByName(id), (_o: TaskObject, state) => new TaskStore(state.storage).task());
}

function storedEvents(id: string) {
  return runInDurableObject(env.TASKS.getByName(id), (_o: TaskObject, state) =>
    new TaskStore(state.storage).eventsAfter(0),
  );
}

async function until(what: () => Promise<boolean>, label: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (await what()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`never: ${label}`);
}

async function snapshotOf(tenant: string, id: string): Promise<TaskSnapshot> {
  const r = await env.TASKS.getByName(id).get(tenant, ORIGIN);
  if (!r.ok) throw new Error(JSON.stringify(r));
  return (r as unknown as { value: TaskSnapshot }).value;
}

describe('intake', () => {
  it("the 202's snapshot is the object's first state, seq included, and its seq replays what follows", async () => {
    const { res, json } = await createTask({ ...BODY, label: 'first' });
    expect(res.status).toBe(202);
    expect(json.task).toMatchObject({ status: 'queued', seq: 1, attempt: 1, progress: 0 });
    const t = newTenant();
    const init = initOf(t.name, { body: { ...BODY, label: 'x' }, webhook: { url: 'https://example.com/hook' } });
    const at = Date.now() - 1_000;
    const expected = intakeSnapshot(init, at, taskConfig(env).maxAttempts);
    // the object's own first state, written from the same init (before any lifecycle move)
    const stub = env.TASKS.getByName(init.id);
    await runInDurableObject(stub, (o: TaskObject) => {
      (o as unknown as { maker: { write(i: CreateTaskInit, at: number): void } }).maker.write(init, at);
    });
    expect(await snapshotOf(t.name, init.id)).toEqual(expected);
    const events = await storedEvents(init.id);
    expect(events).toEqual([expect.objectContaining({ seq: 1, kind: 'status', status: 'queued', at })]);
    // the API's task, after its hand-off: every event after the 202's seq, gap-free from it
    await until(async () => (await storedTask(json.id))?.status === 'running', 'handed over');
    const after = (await storedEvents(json.id)).filter((e) => e.seq > json.task.seq);
    expect(after[0]).toMatchObject({ seq: 2, kind: 'status', status: 'running' });
    await call(`/api/tasks/${json.id}/cancel`, { method: 'POST' });
  });

  it('a task waiting in line has no object; a look makes it as waiting, dated from its intake; another tenant gets 404', async () => {
    const t = newTenant();
    const holder = initOf(t.name);
    const waiter = initOf(t.name);
    expect(await t.stub.intake(holder, 1, LIMITS)).toMatchObject({ kind: 'created', granted: true });
    const answer = await t.stub.intake(waiter, 1, LIMITS);
    expect(answer).toMatchObject({ kind: 'created', granted: false });
    const at = (answer as { at: number }).at;
    await until(async () => (await storedTask(holder.id))?.status === 'running', 'holder made by its hand-off');
    expect(await storedTask(waiter.id)).toBeNull();
    expect((await t.stub.list({})).tasks.map((r) => r.id).sort()).toEqual([holder.id, waiter.id].sort());
    // another tenant's look is a 404, and makes nothing
    const foreign = await env.TASKS.getByName(waiter.id).get(`other-${crypto.randomUUID()}`, ORIGIN);
    expect(foreign).toMatchObject({ ok: false, status: 404 });
    expect(await storedTask(waiter.id)).toBeNull();
    const s = await snapshotOf(t.name, waiter.id);
    expect(s).toMatchObject({ status: 'queued', createdAt: at });
    expect(s.timeline?.[0]?.waits[0]).toMatchObject({ startedAt: at, endedAt: null });
    const events = await storedEvents(waiter.id);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events[0]).toMatchObject({ kind: 'status', status: 'queued', at });
    // a freed slot goes to it: it starts, its wait ends at its start
    await env.TASKS.getByName(holder.id).cancel(t.name, ORIGIN);
    await until(async () => (await storedTask(waiter.id))?.status === 'running', 'waiter running');
    const started = await snapshotOf(t.name, waiter.id);
    expect(started.timeline?.[0]?.waits[0]?.endedAt).toBeGreaterThanOrEqual(at);
    await env.TASKS.getByName(waiter.id).cancel(t.name, ORIGIN);
  });

  it('a freed slot makes the next task in line, which was never looked at, with its wait from the intake', async () => {
    const t = newTenant();
    const holder = initOf(t.name);
    const waiter = initOf(t.name);
    await t.stub.intake(holder, 1, LIMITS);
    const at = ((await t.stub.intake(waiter, 1, LIMITS)) as { at: number }).at;
    await until(async () => (await storedTask(holder.id))?.status === 'running', 'holder running');
    await new Promise((r) => setTimeout(r, 30));
    await env.TASKS.getByName(holder.id).cancel(t.name, ORIGIN);
    await until(async () => (await storedTask(waiter.id))?.status === 'running', 'waiter made and running');
    const events = await storedEvents(waiter.id);
    expect(events.slice(0, 2)).toMatchObject([
      { seq: 1, kind: 'status', status: 'queued', at },
      { seq: 2, kind: 'status', status: 'running' },
    ]);
    const wait = (await snapshotOf(t.name, waiter.id)).timeline?.[0]?.waits[0];
    expect(wait?.startedAt).toBe(at);
    expect((wait?.endedAt ?? 0) - at).toBeGreaterThanOrEqual(30);
    expect((await t.stub.list({ status: 'running' })).tasks.map((r) => r.id)).toEqual([waiter.id]);
    await env.TASKS.getByName(waiter.id).cancel(t.name, ORIGIN);
  });

  it("a hand-off lost after the intake committed is sent again by the tenant's alarm, which makes the task", async () => {
    const t = newTenant();
    let real: Env | undefined;
    await runInDurableObject(t.stub, (o: object) => {
      const holder = o as { env: Env };
      real = holder.env;
      const lost = { getByName: () => ({ slotGranted: async () => Promise.reject(new Error('lost')) }) };
      holder.env = new Proxy(real, { get: (x, k) => (k === 'TASKS' ? lost : Reflect.get(x, k)) });
    });
    const init = initOf(t.name);
    expect(await t.stub.intake(init, 1, LIMITS)).toMatchObject({ kind: 'created', granted: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(await storedTask(init.id)).toBeNull();
    await runInDurableObject(t.stub, async (o: object, state) => {
      (o as { env: Env }).env = real!;
      expect(await state.storage.getAlarm()).not.toBeNull();
    });
    expect(await runDurableObjectAlarm(t.stub)).toBe(true);
    await until(async () => (await storedTask(init.id))?.status === 'running', 'made by the resent grant');
    // a grant sent once more to the task that has it changes nothing
    const seq = (await storedTask(init.id))?.seq;
    expect(await env.TASKS.getByName(init.id).slotGranted({ ...init, at: 0 } as TaskInit)).toBe(true);
    expect((await storedTask(init.id))?.seq).toBe(seq);
    await env.TASKS.getByName(init.id).cancel(t.name, ORIGIN);
  });

  it('a look and a hand-off arriving together make one task, its events gap-free', async () => {
    const t = newTenant();
    const holder = initOf(t.name);
    const init = initOf(t.name);
    await t.stub.intake(holder, 1, LIMITS);
    const at = ((await t.stub.intake(init, 1, LIMITS)) as { at: number }).at;
    const stub = env.TASKS.getByName(init.id);
    const [look, grant] = await Promise.all([stub.get(t.name, ORIGIN), stub.slotGranted({ ...init, at })]);
    expect(look.ok).toBe(true);
    expect(grant).toBe(true);
    const events = await storedEvents(init.id);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.kind === 'status' && e.status === 'queued')).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'status' && e.status === 'running')).toHaveLength(1);
    for (const id of [init.id, holder.id]) await env.TASKS.getByName(id).cancel(t.name, ORIGIN);
  });

  it('a delete before the object exists forgets the task at its tenant; a hand-off sent before it makes nothing', async () => {
    const t = newTenant();
    const holder = initOf(t.name);
    const init = initOf(t.name);
    await t.stub.intake(holder, 1, LIMITS);
    const at = ((await t.stub.intake(init, 1, LIMITS)) as { at: number }).at;
    const stub = env.TASKS.getByName(init.id);
    expect(await stub.remove(`other-${crypto.randomUUID()}`)).toMatchObject({ ok: false, status: 404 });
    expect((await stub.remove(t.name)).ok).toBe(true);
    expect(await t.stub.slotState()).toEqual({ running: [holder.id], waiting: [] });
    expect((await t.stub.list({})).tasks.map((r) => r.id)).toEqual([holder.id]);
    expect(await stub.slotGranted({ ...init, at })).toBe(false);
    expect(await storedTask(init.id)).toBeNull();
    expect(await stub.get(t.name, ORIGIN)).toMatchObject({ ok: false, status: 404 });
    await env.TASKS.getByName(holder.id).cancel(t.name, ORIGIN);
  });

  it('a replayed Idempotency-Key is checked by the tenant while it keeps the init: same body 200, another 409', async () => {
    const t = newTenant();
    const holder = initOf(t.name);
    const init = initOf(t.name, { bodyHash: 'one' });
    await t.stub.intake(holder, 1, LIMITS);
    expect(await t.stub.intake(init, 1, LIMITS)).toMatchObject({ kind: 'created', granted: false });
    expect(await t.stub.intake(init, 1, LIMITS)).toEqual({ kind: 'replay', verified: true });
    expect(await t.stub.intake({ ...init, bodyHash: 'two' }, 1, LIMITS)).toEqual({ kind: 'conflict' });
    // counted once
    expect((await t.stub.usage()).tasks).toBe(2);
    for (const id of [init.id, holder.id]) await env.TASKS.getByName(id).cancel(t.name, ORIGIN);
  });
});
