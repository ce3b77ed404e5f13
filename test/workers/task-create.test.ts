/**
 * The create path's failure orders: a create is one tenant call (intake: quota, index row, slot)
 * before anything is written, so a refusal or an unreachable tenant leaves nothing behind; a batch
 * child's create (TaskObject.create, which asks its tenant through `enter`) whose write fails after
 * the tenant said yes gives everything back; a replayed Idempotency-Key is answered by the task,
 * whose object asks no tenant; and a batch's children are admitted whole or not at all.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { idFromIdempotencyKey, newTaskId } from '../../src/lib/ids.ts';
import { newIndexEntry } from '../../src/objects/tenant-report.ts';
import { call, createTask, ORIGIN } from './helpers.ts';

const BODY = { input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' as const }] };

const unreachable = {
  getByName: () =>
    new Proxy(
      {},
      {
        get: () => async () => {
          throw new Error('tenant unreachable');
        },
      },
    ),
};

/** Swap a binding of an object's env; returns the function that puts it back. */
async function swapEnv(stub: DurableObjectStub, key: string, value: unknown): Promise<() => Promise<void>> {
  let real: Env | undefined;
  await runInDurableObject(stub, (instance: object) => {
    const holder = instance as { env: Env };
    real = holder.env;
    holder.env = new Proxy(real, { get: (t, k) => (k === key ? value : Reflect.get(t, k)) });
  });
  return () =>
    runInDurableObject(stub, (instance: object) => {
      (instance as { env: Env }).env = real!;
    });
}

describe('creating a task: one tenant call, nothing half-made', () => {
  it('a tenant that cannot be reached is a retryable 503 and nothing is made; the retry then creates it', async () => {
    const key = `k-${crypto.randomUUID()}`;
    const id = await idFromIdempotencyKey('local', key);
    // the create route's one call is the tenant's intake: its transaction fails
    const tenant = env.TENANTS.getByName('local');
    await runInDurableObject(tenant, (instance: object) => {
      (instance as { tx: () => never }).tx = () => {
        throw new Error('tenant unreachable');
      };
    });
    const { res, json } = await createTask(BODY, { 'idempotency-key': key });
    await runInDurableObject(tenant, (instance: object) => {
      delete (instance as { tx?: unknown }).tx;
    });
    expect(res.status).toBe(503);
    expect((json as unknown as { error: { code: string; retryable: boolean } }).error).toMatchObject({
      code: 'tenant.unavailable',
      retryable: true,
    });
    expect((await call(`/api/tasks/${id}`)).status).toBe(404);
    const again = await createTask(BODY, { 'idempotency-key': key });
    expect(again.res.status).toBe(202);
    expect(again.json.id).toBe(id);
    await call(`/api/tasks/${id}/cancel`, { method: 'POST' });
  });

  it('a replayed Idempotency-Key answers from the task, whose object asks no tenant', async () => {
    const key = `k-${crypto.randomUUID()}`;
    const first = await createTask(BODY, { 'idempotency-key': key });
    expect(first.res.status).toBe(202);
    await call(`/api/tasks/${first.json.id}`);
    const restore = await swapEnv(env.TASKS.getByName(first.json.id), 'TENANTS', unreachable);
    const replay = await createTask(BODY, { 'idempotency-key': key });
    await restore();
    expect(replay.res.status).toBe(200);
    expect(replay.json).toMatchObject({ id: first.json.id, created: false });
    await call(`/api/tasks/${first.json.id}/cancel`, { method: 'POST' });
  });

  it('the tenant said yes but the task could not be written: its admission, index row and slot go back', async () => {
    const tenantName = `t-${crypto.randomUUID()}`;
    const tenant = env.TENANTS.getByName(tenantName);
    const id = newTaskId();
    const stub = env.TASKS.getByName(id);
    await runInDurableObject(stub, (instance: object) => {
      (instance as { store: { create: () => never } }).store.create = () => {
        throw new Error('disk full');
      };
    });
    const answer = await stub.create({
      id,
      tenant: tenantName,
      body: BODY,
      inputKey: null,
      bodyHash: 'h',
      origin: ORIGIN,
    });
    expect(answer).toMatchObject({ ok: false, status: 503, error: { code: 'storage.failed', retryable: true } });
    for (let i = 0; i < 50 && (await tenant.usage()).tasks > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await tenant.usage()).tasks).toBe(0);
    expect((await tenant.list({})).tasks).toEqual([]);
    expect(await tenant.slotState()).toEqual({ running: [], waiting: [] });
  });

  it('a quota refusal comes back as a value and writes nothing; an id already admitted is free', async () => {
    const tenant = env.TENANTS.getByName(`t-${crypto.randomUUID()}`);
    const limits = { tasksPerDay: 1, outputBytesPerDay: 0 };
    const entry = (id: string) => newIndexEntry({ id, input: BODY.input, steps: BODY.steps, label: null }, Date.now());
    const [a, b] = [newTaskId(), newTaskId()];
    expect(await tenant.enter(entry(a), 2, limits)).toEqual({ ok: true, granted: true });
    // the same id again (its create's answer was lost): not counted twice, still holding its slot
    expect(await tenant.enter(entry(a), 2, limits)).toEqual({ ok: true, granted: true });
    const refused = await tenant.enter(entry(b), 2, limits);
    expect(refused).toMatchObject({ ok: false, code: 'quota.tasks' });
    expect((refused as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(0);
    expect((await tenant.usage()).tasks).toBe(1);
    expect((await tenant.list({})).tasks.map((t) => t.id)).toEqual([a]);
    expect(await tenant.slotState()).toEqual({ running: [a], waiting: [] });
  });

  it("a batch's children are admitted whole or not at all, in one call, and each child's entry is then free", async () => {
    const tenant = env.TENANTS.getByName(`t-${crypto.randomUUID()}`);
    const limits = { tasksPerDay: 3, outputBytesPerDay: 0 };
    const [a, b, c, d] = [newTaskId(), newTaskId(), newTaskId(), newTaskId()];
    expect(await tenant.admitMany([a, b], limits)).toMatchObject({ ok: true, fresh: [a, b] });
    // b is admitted already; c and d would make 4 of 3: none of them is counted
    expect(await tenant.admitMany([b, c, d], limits)).toMatchObject({ ok: false, code: 'quota.tasks' });
    expect((await tenant.usage()).tasks).toBe(2);
    expect(await tenant.admitMany([b, c], limits)).toMatchObject({ ok: true, fresh: [c] });
    expect((await tenant.usage()).tasks).toBe(3);
    const entry = newIndexEntry({ id: c, input: BODY.input, steps: BODY.steps, label: null }, Date.now());
    expect(await tenant.enter(entry, 2, limits)).toEqual({ ok: true, granted: true });
    expect((await tenant.usage()).tasks).toBe(3);
    await tenant.unadmitMany([a, b]);
    expect((await tenant.usage()).tasks).toBe(1);
  });
});
