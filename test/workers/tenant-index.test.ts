/**
 * The tenant's index and what each task costs it: the counts and the list's filter by an active
 * status come from the in-memory tally (tenant-tally.ts), which must agree with the rows after every
 * kind of write and after the object wakes; the rows a task writes in the tenant's SQLite (each
 * index entry is one) stay at the budget of migration 7 (9 for a task taken in by intake, counted
 * against the quota by its list row); and that count agrees with the rows through every way a row
 * comes and goes.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { newTaskId } from '../../src/lib/ids.ts';
import { DAY_MS, dayKey } from '../../src/lib/quota.ts';
import type { CreateTaskInit } from '../../src/objects/task-intake.ts';
import type { TaskIndexEntry, TenantObject } from '../../src/objects/tenant-object.ts';
import type { TaskStatus } from '../../src/protocol/task.ts';

const LIMITS = { tasksPerDay: 0, outputBytesPerDay: 0 };

function newTenant() {
  return env.TENANTS.getByName(`t-${crypto.randomUUID()}`);
}

function entry(id: string, status: TaskStatus, seq: number, createdAt: number, updatedAt = createdAt): TaskIndexEntry {
  return {
    id,
    status,
    label: null,
    source: `http://a.example/${id}.mp4`,
    ops: 'probe',
    progress: 0,
    message: '',
    attempt: 1,
    seq,
    createdAt,
    updatedAt,
  };
}

/** What the rows say, straight from SQL: the counts and each status's ids newest first. */
async function fromRows(tenant: DurableObjectStub<TenantObject>, stallMs: number) {
  return runInDurableObject(tenant, (_o: TenantObject, state) => {
    const sql = state.storage.sql;
    const counts: Record<string, number> = {};
    for (const r of sql.exec<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM tasks GROUP BY status'))
      counts[r.status] = Number(r.n);
    counts.stalled = Number(
      sql
        .exec<{ n: number }>(
          "SELECT COUNT(*) AS n FROM tasks WHERE status = 'running' AND updated_at < ?",
          Date.now() - stallMs,
        )
        .one().n,
    );
    const byStatus: Record<string, string[]> = {};
    for (const r of sql.exec<{ id: string; status: string }>(
      'SELECT id, status FROM tasks ORDER BY created_at DESC, id DESC',
    )) {
      const list = byStatus[r.status] ?? [];
      list.push(r.id);
      byStatus[r.status] = list;
    }
    return { counts, ids: (status: string) => byStatus[status] ?? [] };
  });
}

/** Every page of a status filter, `limit` rows at a time. */
async function allPages(tenant: DurableObjectStub<TenantObject>, status: TaskStatus, limit: number, q?: string) {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) {
    const page = await tenant.list({ status, limit, cursor, q });
    ids.push(...page.tasks.map((t) => t.id));
    if (!page.cursor) return ids;
    cursor = page.cursor;
  }
  throw new Error('pages never ended');
}

async function expectAgreement(tenant: DurableObjectStub<TenantObject>) {
  const stallMs = 60_000;
  const counts = await tenant.counts(stallMs);
  const rows = await fromRows(tenant, stallMs);
  for (const [k, v] of Object.entries(counts)) expect([k, v]).toEqual([k, rows.counts[k] ?? 0]);
  for (const status of ['queued', 'running', 'retrying', 'succeeded', 'failed', 'canceled'] as const) {
    const expected = rows.ids(status);
    expect(await allPages(tenant, status, 2)).toEqual(expected);
    expect((await tenant.list({ status })).tasks.map((t) => t.id)).toEqual(expected);
  }
}

describe('tenant index', () => {
  it('counts and status filters agree with the rows after every kind of write, and after the object wakes', async () => {
    const tenant = newTenant();
    const now = Date.now();
    const ids = Array.from({ length: 9 }, () => newTaskId());
    // written before the tally exists (it is built on first use)
    await tenant.record(entry(ids[0]!, 'running', 2, now - 9, now - 120_000)); // stalled
    await tenant.record(entry(ids[1]!, 'succeeded', 5, now - 8));
    await expectAgreement(tenant);
    // and after: every status, same created_at for two rows (the id breaks the tie), stale reports
    await tenant.record(entry(ids[2]!, 'queued', 1, now - 7));
    await tenant.record(entry(ids[3]!, 'running', 2, now - 7));
    await tenant.record(entry(ids[4]!, 'retrying', 3, now - 6));
    await tenant.record(entry(ids[5]!, 'failed', 4, now - 5));
    await tenant.record(entry(ids[6]!, 'canceled', 4, now - 4));
    await tenant.record(entry(ids[7]!, 'running', 2, now - 3));
    await tenant.record(entry(ids[1]!, 'running', 2, now - 8)); // older than what is stored: ignored
    await tenant.record(entry(ids[4]!, 'running', 4, now - 6)); // retrying -> running
    await tenant.record(entry(ids[7]!, 'succeeded', 5, now - 3)); // running -> succeeded
    await tenant.record(entry(ids[5]!, 'queued', 5, now - 5)); // failed -> retried
    await tenant.enter(entry(ids[8]!, 'queued', 1, now - 1), 100, LIMITS); // granted: recorded running
    await tenant.forget(ids[6]!);
    await expectAgreement(tenant);
    expect((await tenant.counts(60_000)).stalled).toBe(1);
    expect(await allPages(tenant, 'running', 1, ids[3]!)).toEqual([ids[3]]);
    // the object wakes: the tally is rebuilt from the rows
    await runInDurableObject(tenant, (o: TenantObject) => {
      (o as unknown as { index: { invalidate(): void } }).index.invalidate();
    });
    await expectAgreement(tenant);
  });
});

describe('rows written per task', () => {
  it('a task granted a slot by its create costs the tenant 6 rows, one that waited for a slot 8', async () => {
    const tenant = newTenant();
    // a slot grant reaches a stand-in task that takes it (no task object writes in this count)
    await runInDurableObject(tenant, (o: TenantObject) => {
      const holder = o as unknown as { env: Env };
      const real = holder.env;
      const TASKS = { getByName: () => ({ slotGranted: async () => true }) };
      holder.env = new Proxy(real, { get: (t, k) => (k === 'TASKS' ? TASKS : Reflect.get(t, k)) });
    });
    await tenant.slotState();
    await tenant.enter(entry(newTaskId(), 'queued', 1, Date.now()), 1, LIMITS); // the day's usage row
    await tenant.release((await tenant.slotState()).running[0]!);
    const now = Date.now();
    const [a, b] = [entry(newTaskId(), 'queued', 1, now), entry(newTaskId(), 'queued', 1, now + 1)];
    const rows = await countRows(tenant, async () => {
      const steps: number[] = [];
      const step = async (f: () => Promise<unknown>) => {
        const before = written.n;
        await f();
        steps.push(written.n - before);
      };
      await step(() => tenant.enter(a, 1, LIMITS)); // usage 1, index row 1 + newest-first 1, lane 1
      await step(() => tenant.enter(b, 1, LIMITS)); // the same, its lane row waiting
      // a's last row 1, its lane row 1; b handed the slot: its lane row 1
      await step(() => tenant.finish({ ...a, status: 'succeeded', seq: 4, updatedAt: Date.now() }));
      // b's acknowledgement (its row to running) 1, b's last row 1, its lane row 1
      await step(() => tenant.finish({ ...b, status: 'succeeded', seq: 5, updatedAt: Date.now() }));
      return steps;
    });
    // a: 4 + 2 = 6; b: 4 + 1 (grant) + 1 (acknowledgement) + 2 = 8
    expect(rows).toEqual([4, 4, 3, 3]);
  });
});

describe('rows written per task taken in by intake', () => {
  it('a task granted a slot by its intake costs the tenant 5 rows, one that waited 6 (no usage row)', async () => {
    const tenant = newTenant();
    await standInTasks(tenant);
    const name = `t-${crypto.randomUUID()}`;
    const [a, b] = [intakeInit(name), intakeInit(name)];
    const rows = await countRows(tenant, async () => {
      const steps: number[] = [];
      const step = async (f: () => Promise<unknown>) => {
        const before = written.n;
        await f();
        steps.push(written.n - before);
      };
      await step(() => tenant.intake(a, 1, LIMITS)); // index row 1 + newest-first 1, lane 1 (the count is the row)
      await step(() => tenant.intake(b, 1, LIMITS)); // the same, its lane row waiting
      await tenant.slotState(); // a's hand-off answered (a waitUntil of the intake)
      const listed = await tenant.list({});
      const rowOf = (id: string) => listed.tasks.find((t) => t.id === id)!;
      // a's last row 1, its lane row 1; b handed the slot: its list row to running 1 (its lane row stays)
      await step(() => tenant.finish({ ...rowOf(a.id), status: 'succeeded', seq: 4, updatedAt: Date.now() }));
      expect((await tenant.list({})).tasks.find((t) => t.id === b.id)).toMatchObject({ status: 'running', seq: 2 });
      // b's acknowledgement is no row (its row says running already); b's last row 1, its lane row 1
      await step(() => tenant.finish({ ...rowOf(b.id), status: 'succeeded', seq: 5, updatedAt: Date.now() }));
      return steps;
    });
    expect(rows).toEqual([3, 3, 3, 2]);
    expect((await tenant.usage()).tasks).toBe(2);
  });
});

describe('the quota count of tasks taken in by intake', () => {
  it('is the usage row plus the counted list rows of the day, through replays, deletes, admissions and a wake', async () => {
    const tenant = newTenant();
    await standInTasks(tenant);
    const name = `t-${crypto.randomUUID()}`;
    const limits = { tasksPerDay: 4, outputBytesPerDay: 0 };
    const usageRow = () =>
      runInDurableObject(tenant, (_o: TenantObject, state) =>
        state.storage.sql.exec('SELECT day, tasks FROM usage').toArray(),
      );
    const wake = () =>
      runInDurableObject(tenant, (o: TenantObject) => {
        (o as unknown as { quota: { invalidate(): void } }).quota.invalidate();
      });
    const [a, b, c, d, e] = Array.from({ length: 5 }, () => intakeInit(name));
    expect(await tenant.intake(a, 100, limits)).toMatchObject({ kind: 'created' });
    expect(await tenant.intake(b, 100, limits)).toMatchObject({ kind: 'created' });
    expect(await tenant.intake(b, 100, limits)).toEqual({ kind: 'replay', verified: true }); // not counted again
    expect(await usageRow()).toEqual([]);
    expect((await tenant.usage()).tasks).toBe(2);
    // admitted ahead: counted by its admission, not again by its row
    await tenant.admit(c.id, limits);
    expect(await tenant.intake(c, 100, limits)).toMatchObject({ kind: 'created' });
    expect((await tenant.usage()).tasks).toBe(3);
    // a deleted task keeps its count (moved to the usage row)
    await tenant.forget(a.id);
    expect((await tenant.usage()).tasks).toBe(3);
    await wake();
    expect((await tenant.usage()).tasks).toBe(3);
    expect(await tenant.intake(d, 100, limits)).toMatchObject({ kind: 'created' });
    expect(await tenant.intake(e, 100, limits)).toMatchObject({ kind: 'refused' });
    expect((await tenant.list({})).tasks.map((t) => t.id)).not.toContain(e.id);
    await wake();
    expect((await tenant.usage()).tasks).toBe(4);
    expect(await tenant.intake(e, 100, limits)).toMatchObject({ kind: 'refused' });
    // a row created yesterday counts for yesterday only
    await runInDurableObject(tenant, (_o: TenantObject, state) => {
      state.storage.sql.exec('UPDATE tasks SET created_at = created_at - ? WHERE id = ?', DAY_MS, d.id);
    });
    await wake();
    expect((await tenant.usage()).tasks).toBe(3);
    expect(await tenant.usage(Date.now() - DAY_MS)).toMatchObject({ day: dayKey(Date.now() - DAY_MS), tasks: 1 });
  });
});

describe('a hand-off written in the list row', () => {
  it('makes a waiting task a holder across a wake (its grant sent again); a task that joins the line again waits', async () => {
    const tenant = newTenant();
    const granted: string[] = [];
    await runInDurableObject(tenant, (o: TenantObject) => {
      const holder = o as unknown as { env: Env };
      const real = holder.env;
      const TASKS = {
        getByName: (id: string) => ({
          slotGranted: async () => {
            granted.push(id);
            return true;
          },
        }),
      };
      holder.env = new Proxy(real, { get: (t, k) => (k === 'TASKS' ? TASKS : Reflect.get(t, k)) });
    });
    const name = `t-${crypto.randomUUID()}`;
    const [a, b, c] = [intakeInit(name), intakeInit(name), intakeInit(name)];
    for (const i of [a, b, c]) await tenant.intake(i, 1, LIMITS);
    const wake = () =>
      runInDurableObject(tenant, (o: TenantObject) => {
        const copies = o as unknown as { slots: { invalidate(): void }; index: { invalidate(): void } };
        copies.slots.invalidate();
        copies.index.invalidate();
      });
    await tenant.release(a.id); // b handed a's slot: its lane row still says waiting
    expect(await tenant.slotState()).toEqual({ running: [b.id], waiting: [c.id] });
    await wake();
    expect(await tenant.slotState()).toEqual({ running: [b.id], waiting: [c.id] });
    expect((await tenant.list({ status: 'running' })).tasks.map((t) => t.id)).toContain(b.id);
    expect((await tenant.list({ status: 'queued' })).tasks.map((t) => t.id)).toEqual([c.id]);
    // after the wake, b's grant counts as unsent (it keeps its init): the alarm sends it again
    granted.length = 0;
    await runInDurableObject(tenant, (o: TenantObject) => o.alarm());
    expect(granted).toContain(b.id);
    // b gives its slot back and joins the line again (a retry): c is handed the slot, b waits, also after a wake
    await tenant.release(b.id);
    expect(await tenant.acquire(b.id, 1)).toEqual({ granted: false });
    expect(await tenant.slotState()).toEqual({ running: [c.id], waiting: [b.id] });
    await wake();
    expect(await tenant.slotState()).toEqual({ running: [c.id], waiting: [b.id] });
  });
});

/** The init of a task taken in by `tenant`'s intake. */
function intakeInit(tenant: string): CreateTaskInit {
  const body = { input: { url: 'http://a.example/a.mp4' }, steps: [{ op: 'probe' as const }] };
  return { id: newTaskId(), tenant, body, inputKey: null, bodyHash: 'h', origin: 'http://localhost' };
}

/** Slot grants reach stand-in tasks that take them (no task object is made or writes). */
async function standInTasks(tenant: DurableObjectStub<TenantObject>): Promise<void> {
  await runInDurableObject(tenant, (o: TenantObject) => {
    const holder = o as unknown as { env: Env };
    const real = holder.env;
    const TASKS = { getByName: () => ({ slotGranted: async () => true }) };
    holder.env = new Proxy(real, { get: (t, k) => (k === 'TASKS' ? TASKS : Reflect.get(t, k)) });
  });
}

/** Rows written by every statement while `f` runs (the tenant's: nothing else writes meanwhile). */
const written = { n: 0 };
async function countRows<T>(tenant: DurableObjectStub<TenantObject>, f: () => Promise<T>): Promise<T> {
  let restore = () => {};
  await runInDurableObject(tenant, (_o: TenantObject, state) => {
    const proto = Object.getPrototypeOf(state.storage.sql) as { exec: SqlStorage['exec'] };
    const exec = proto.exec;
    proto.exec = function (this: SqlStorage, query: string, ...bindings: unknown[]) {
      const cursor = exec.call(this, query, ...bindings);
      // a write has run when exec returns; its count is final then
      written.n += cursor.rowsWritten;
      return cursor;
    } as SqlStorage['exec'];
    restore = () => {
      proto.exec = exec;
    };
  });
  try {
    return await f();
  } finally {
    restore();
  }
}
