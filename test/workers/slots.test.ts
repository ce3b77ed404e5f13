/**
 * Concurrency slots per tenant: a fixed number run at once, the rest wait first come first served.
 * A task enters its tenant once when it is created (quota, index row, slot or place in line) and
 * starts straight from that answer; a freed slot is handed to the head of the line with one call, a
 * grant lost on its way is sent again by the tenant's alarm, and a holder that ended without saying
 * so is found by that alarm while someone waits.
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { newTaskId } from '../../src/lib/ids.ts';
import { QUEUED_RECHECK_MS } from '../../src/lib/task-lifecycle.ts';
import { applyMigrations } from '../../src/objects/migrations.ts';
import type { TaskObject } from '../../src/objects/task-object.ts';
import { TaskStore } from '../../src/objects/task-store.ts';
import type { TenantObject } from '../../src/objects/tenant-object.ts';
import { TENANT_MIGRATIONS } from '../../src/objects/tenant-schema.ts';
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import { ORIGIN } from './helpers.ts';

/** The fake runner keeps this job running (heartbeats) for 10 s: a holder that stays busy. */
const BODY = { input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' as const }] };

function newTenant() {
  const name = `t-${crypto.randomUUID()}`;
  return { name, stub: env.TENANTS.getByName(name) };
}

/** Swap a binding of an object's env (kept until `restore` is called). */
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

/** Create a task of `tenant` through its object, with `limit` slots per tenant. */
async function create(tenant: string, limit: number, id = newTaskId()) {
  const stub = env.TASKS.getByName(id);
  const restore = await swapEnv(stub, 'MAX_CONCURRENT_TASKS', String(limit));
  try {
    const answer = await stub.create({ id, tenant, body: BODY, inputKey: null, bodyHash: 'h', origin: ORIGIN });
    if (!answer.ok) throw new Error(JSON.stringify(answer));
    const value = (answer as unknown as { value: { snapshot: TaskSnapshot } }).value;
    return { id, stub, status: value.snapshot.status };
  } finally {
    await restore();
  }
}

async function statusOf(tenant: string, id: string): Promise<string> {
  const r = await env.TASKS.getByName(id).get(tenant, ORIGIN);
  if (!r.ok) throw new Error(JSON.stringify(r));
  return (r as unknown as { value: TaskSnapshot }).value.status;
}

async function until(what: () => Promise<boolean>, label: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await what()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`never: ${label}`);
}

async function seqOf(id: string): Promise<number> {
  return runInDurableObject(env.TASKS.getByName(id), (_o: TaskObject, state) =>
    Number(new TaskStore(state.storage).eventsAfter(0).at(-1)?.seq ?? 0),
  );
}

describe('tenant slots', () => {
  it('a task gets a slot or a place in line from its create, starts at once with one, and a freed slot goes to the head of the line', async () => {
    const t = newTenant();
    const a = await create(t.name, 2);
    const b = await create(t.name, 2);
    const c = await create(t.name, 2);
    const d = await create(t.name, 2);
    expect([a.status, b.status, c.status, d.status]).toEqual(['running', 'running', 'queued', 'queued']);
    expect(await t.stub.slotState()).toEqual({ running: [a.id, b.id], waiting: [c.id, d.id] });
    // the index has every task, in the state its create left it
    const rows = new Map((await t.stub.list({})).tasks.map((r) => [r.id, r]));
    expect(rows.get(a.id)).toMatchObject({ status: 'running', seq: 2 });
    expect(rows.get(c.id)).toMatchObject({ status: 'queued', seq: 1 });
    // the task that got a slot from its create needs no alarm to start: its alarm is the watchdog's
    await runInDurableObject(a.stub, async (_o: TaskObject, state) => {
      expect(await state.storage.getAlarm()).toBeGreaterThan(Date.now());
    });

    await a.stub.cancel(t.name, ORIGIN);
    // a's slot went to c, the head of the line, without c's alarm; d still waits
    await until(async () => (await statusOf(t.name, c.id)) === 'running', 'c running');
    expect(await t.stub.slotState()).toEqual({ running: [b.id, c.id], waiting: [d.id] });
    expect(await statusOf(t.name, d.id)).toBe('queued');
    // c said it took the slot: its index row says running, at the seq of its running event
    expect((await t.stub.list({ status: 'running' })).tasks.map((r) => r.id).sort()).toEqual([b.id, c.id].sort());
    for (const x of [b, c, d]) await x.stub.cancel(t.name, ORIGIN);
    await until(async () => (await t.stub.slotState()).running.length === 0, 'all slots back');
  });

  it('N waiting tasks cost one call per freed slot: nobody else wakes, and their own rechecks are minutes away', async () => {
    const t = newTenant();
    const holder = await create(t.name, 1);
    const waiting: { id: string; stub: DurableObjectStub<TaskObject> }[] = [];
    for (let i = 0; i < 12; i++) waiting.push(await create(t.name, 1));
    const createdAt = Date.now();
    for (const w of waiting) {
      await runInDurableObject(w.stub, async (_o: TaskObject, state) => {
        expect(await state.storage.getAlarm()).toBeGreaterThanOrEqual(createdAt + QUEUED_RECHECK_MS - 60_000);
      });
    }
    const seqs = await Promise.all(waiting.map((w) => seqOf(w.id)));
    await holder.stub.cancel(t.name, ORIGIN);
    const [head, ...rest] = waiting;
    await until(async () => (await statusOf(t.name, head!.id)) === 'running', 'head running');
    // only the head moved: the others wrote nothing (no "N ahead" events, no rechecks)
    expect(await Promise.all(rest.map((w) => seqOf(w.id)))).toEqual(seqs.slice(1));
    expect((await t.stub.slotState()).waiting).toEqual(rest.map((w) => w.id));
    for (const w of [...rest].reverse()) await w.stub.cancel(t.name, ORIGIN);
    await head!.stub.cancel(t.name, ORIGIN);
  });

  it('a grant lost on its way to the task stays unacknowledged, and the tenant alarm sends it again', async () => {
    const t = newTenant();
    const a = await create(t.name, 1);
    const b = await create(t.name, 1);
    expect(b.status).toBe('queued');
    const unreachable = {
      getByName: () => ({
        slotGranted: async () => {
          throw new Error('task unreachable');
        },
      }),
    };
    const restore = await swapEnv(t.stub, 'TASKS', unreachable);
    await a.stub.cancel(t.name, ORIGIN);
    // the slot is b's in the tenant, but b never heard: it still waits, its index row still queued
    await until(async () => (await t.stub.slotState()).running[0] === b.id, 'slot handed to b');
    expect(await statusOf(t.name, b.id)).toBe('queued');
    await restore();
    await runInDurableObject(t.stub, async (_o: TenantObject, state) => {
      expect(await state.storage.getAlarm()).not.toBeNull();
    });
    expect(await runDurableObjectAlarm(t.stub)).toBe(true);
    await until(async () => (await statusOf(t.name, b.id)) === 'running', 'b running');
    expect((await t.stub.list({})).tasks.find((r) => r.id === b.id)).toMatchObject({ status: 'running' });
    await b.stub.cancel(t.name, ORIGIN);
  });

  it('a holder that ended without saying so (or never existed) loses its slot to the line, found by the tenant alarm', async () => {
    const t = newTenant();
    const ghost = newTaskId();
    // a slot taken by an id whose task object never wrote anything (its create died after the grant)
    expect(await t.stub.acquire(ghost, 1)).toEqual({ granted: true });
    const b = await create(t.name, 1);
    expect(b.status).toBe('queued');
    // someone waits on full slots: the tenant's alarm is armed to look at the holders
    expect(await runDurableObjectAlarm(t.stub)).toBe(true);
    await until(async () => (await statusOf(t.name, b.id)) === 'running', 'b running');
    expect(await t.stub.slotState()).toEqual({ running: [b.id], waiting: [] });
    await b.stub.cancel(t.name, ORIGIN);
  });

  it('trusts the index: an ended holder frees its slot, a fresh running one keeps it, without asking either', async () => {
    const t = newTenant();
    // ghosts: no task object exists for them, so asking would free their slots; the index must decide
    const [ended, running] = [newTaskId(), newTaskId()];
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
    expect(await t.stub.acquire(ended, 2)).toEqual({ granted: true });
    expect(await t.stub.acquire(running, 2)).toEqual({ granted: true });
    await t.stub.record(entry(ended, 'succeeded'));
    await t.stub.record(entry(running, 'running'));
    const next = await create(t.name, 2);
    expect(next.status).toBe('queued');
    await runDurableObjectAlarm(t.stub);
    expect((await t.stub.slotState()).running.sort()).toEqual([running, next.id].sort());
    await until(async () => (await statusOf(t.name, next.id)) === 'running', 'next running');
    await next.stub.cancel(t.name, ORIGIN);
  });
});

describe('tenant schema', () => {
  it('migrations 6 and 7 keep every index row, slot, place in line, admission and usage of a tenant created before them', async () => {
    const t = newTenant();
    await runInDurableObject(t.stub, (o: TenantObject, state) => {
      const sql = state.storage.sql;
      // back to the schema of migrations 1-5, with a row in each table
      state.storage.transactionSync(() => {
        sql.exec('DROP TABLE tasks; DROP TABLE lane; DROP TABLE usage; DROP TABLE admitted');
        for (const v of [1, 2, 3, 4]) sql.exec(TENANT_MIGRATIONS[v - 1]!);
        // one version row is kept (the highest reached): say 5
        sql.exec('DELETE FROM schema_migrations');
        sql.exec('INSERT INTO schema_migrations (version, applied_at) VALUES (5, 0)');
        sql.exec(
          `INSERT INTO tasks (id, status, label, source, ops, seq, created_at, updated_at)
           VALUES ('a', 'running', 'x', 'http://a.example/a.mp4', 'audio', 3, 1, 2), ('b', 'queued', null, 's', 'probe', 1, 5, 5),
                  ('c', 'queued', null, 's', 'probe', 1, 3, 3), ('d', 'failed', null, 's', 'probe', 4, 0, 1)`,
        );
        sql.exec("INSERT INTO slots (task_id, acquired_at) VALUES ('a', 2)");
        sql.exec("INSERT INTO waiting (task_id, enqueued_at) VALUES ('b', 5), ('c', 3)");
        sql.exec("INSERT INTO usage (day, tasks, output_bytes) VALUES ('2026-12-01', 7, 100)");
        sql.exec("INSERT INTO admitted (task_id, day) VALUES ('z', '2026-12-01')");
      });
      applyMigrations(state.storage, TENANT_MIGRATIONS);
      const rows = (q: string) => sql.exec(q).toArray();
      expect(rows('SELECT id, status, label, seq FROM tasks ORDER BY id')).toEqual([
        { id: 'a', status: 'running', label: 'x', seq: 3 },
        { id: 'b', status: 'queued', label: null, seq: 1 },
        { id: 'c', status: 'queued', label: null, seq: 1 },
        { id: 'd', status: 'failed', label: null, seq: 4 },
      ]);
      expect(rows('SELECT task_id, state, since FROM lane ORDER BY task_id')).toEqual([
        { task_id: 'a', state: 'holding', since: 2 },
        { task_id: 'b', state: 'waiting', since: 5 },
        { task_id: 'c', state: 'waiting', since: 3 },
      ]);
      expect(rows('SELECT day, tasks, output_bytes FROM usage')).toEqual([
        { day: '2026-12-01', tasks: 7, output_bytes: 100 },
      ]);
      expect(rows('SELECT task_id, day FROM admitted')).toEqual([{ task_id: 'z', day: '2026-12-01' }]);
      // rows from before migration 9 are counted in `usage` already, not by the row
      expect(rows('SELECT DISTINCT counted FROM tasks')).toEqual([{ counted: 0 }]);
      expect(rows("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks' ORDER BY name")).toEqual([
        { name: 'tasks_by_created' },
        { name: 'tasks_ended_badly' },
      ]);
      expect(rows("SELECT name FROM sqlite_master WHERE name IN ('slots', 'waiting', 'admitted_by_day')")).toEqual([]);
      // the object's copies, rebuilt from the migrated rows: the line in order of arrival, the counts
      const copies = o as unknown as { slots: { invalidate(): void }; index: { invalidate(): void } };
      copies.slots.invalidate();
      copies.index.invalidate();
    });
    expect(await t.stub.slotState()).toEqual({ running: ['a'], waiting: ['c', 'b'] });
    expect(await t.stub.counts(60_000)).toMatchObject({ running: 1, queued: 2, failed: 1, succeeded: 0 });
    expect((await t.stub.list({ status: 'failed' })).tasks.map((r) => r.id)).toEqual(['d']);
    expect(await t.stub.usage(Date.parse('2026-12-01T12:00:00Z'))).toMatchObject({ tasks: 7, outputBytes: 100 });
  });
});
