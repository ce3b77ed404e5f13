/**
 * What a task object writes, counted the way the bill counts it (each cursor's rowsWritten): a new
 * task that gets a slot at once and runs one step writes its schema (the task table: 2 rows), its
 * row already running (1: the grant with the step's start is written by the create's INSERT, in its
 * transaction), then one UPDATE: the step's end with the task's success. No version table
 * (task-schema.ts), no transaction of its own for the grant, a step's start or the success after the
 * last step (lib/task-lifecycle.ts). The events stay gap-free and in the order a client always saw
 * them: seq 1 queued, then the grant's. Its schema made from the baseline, it never asks
 * sqlite_master which tables exist (the baseline says: task-schema.ts). The same holds for a task
 * made by its slot's hand-off (the intake's way in) and, for one in line, its denial.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { newTaskId } from '../../src/lib/ids.ts';
import type { TaskInit, TaskMaker } from '../../src/objects/task-intake.ts';
import type { TaskObject } from '../../src/objects/task-object.ts';
import { fromBaseline } from '../../src/objects/task-schema.ts';
import { TaskStore } from '../../src/objects/task-store.ts';
import { ORIGIN } from './helpers.ts';

const QUICK = { input: { url: 'http://127.0.0.1:1/quick/a.mp4' }, steps: [{ op: 'probe' as const }] };

describe('rows a task writes', () => {
  it('a one-step task granted at create writes 4 rows in 2 transactions, its events gap-free', async () => {
    const id = newTaskId();
    const stub = env.TASKS.getByName(id);
    const seen: { text: string; cursor: SqlStorageCursor<Record<string, SqlStorageValue>> }[] = [];
    await runInDurableObject(stub, async (o: TaskObject, state) => {
      const sql = state.storage.sql;
      const exec = sql.exec.bind(sql);
      sql.exec = ((text: string, ...args: SqlStorageValue[]) => {
        const cursor = exec(text, ...args);
        seen.push({ text, cursor });
        return cursor;
      }) as typeof sql.exec;
      try {
        const answer = await o.create({
          id,
          tenant: `rows-${id}`,
          body: QUICK,
          inputKey: null,
          bodyHash: 'h',
          origin: ORIGIN,
        });
        expect(answer.ok).toBe(true);
        const store = (o as unknown as { store: TaskStore }).store;
        for (let i = 0; i < 100 && store.task()?.status !== 'succeeded'; i++) {
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(store.task()?.status).toBe('succeeded');
      } finally {
        sql.exec = exec;
      }
      const written = seen.filter((s) => s.cursor.rowsWritten > 0);
      expect(written.some((s) => s.text.includes('schema_migrations'))).toBe(false);
      // its schema was created from the baseline by its create: no table is looked up afterwards
      expect(seen.filter((s) => s.text.includes('sqlite_master')).map((s) => s.text)).toEqual([]);
      // inserted running: the grant costs no UPDATE
      expect(written.filter((s) => s.text.startsWith('INSERT INTO task'))).toHaveLength(1);
      expect(written.filter((s) => s.text.startsWith('UPDATE task'))).toHaveLength(1);
      expect(written.reduce((n, s) => n + s.cursor.rowsWritten, 0)).toBe(4);
      const events = new TaskStore(state.storage).eventsAfter(0);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(
        events.map((e) => `${e.kind}:${'status' in e ? e.status : e.kind === 'progress' ? e.progress : ''}`),
      ).toEqual([
        'status:queued',
        'status:running',
        'step:running',
        'progress:50',
        'step:succeeded',
        'status:succeeded',
      ]);
    });
  });

  it('a task made by its hand-off is inserted running, one row, its events seq 1 queued then the grant', async () => {
    const id = newTaskId();
    const tenant = `rows-${id}`;
    const init: TaskInit = {
      id,
      tenant,
      body: QUICK,
      inputKey: null,
      bodyHash: 'h',
      origin: ORIGIN,
      at: Date.now() - 5,
    };
    await runInDurableObject(env.TASKS.getByName(id), async (o: TaskObject, state) => {
      const seen = spy(state.storage.sql);
      try {
        expect(await o.slotGranted(init)).toBe(true);
        const store = (o as unknown as { store: TaskStore }).store;
        for (let i = 0; i < 100 && store.task()?.status !== 'succeeded'; i++) {
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(store.task()?.status).toBe('succeeded');
      } finally {
        seen.restore();
      }
      const written = seen.calls.filter((s) => s.cursor.rowsWritten > 0);
      // the schema (2 rows), the row inserted running (1), the end (1)
      expect(written.map((s) => s.text.split(' ').slice(0, 2).join(' '))).toEqual([
        'CREATE TABLE',
        'INSERT INTO',
        'UPDATE task',
      ]);
      const insert = written[1]!;
      expect(insert.args).toContain('running');
      expect(insert.args).not.toContain('queued');
      expect(written.reduce((n, s) => n + s.cursor.rowsWritten, 0)).toBe(4);
      expect(seen.calls.filter((s) => s.text.includes('sqlite_master'))).toEqual([]);
      const fresh = new TaskStore(state.storage);
      const events = fresh.eventsAfter(0);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.slice(0, 3).map((e) => `${e.kind}:${'status' in e ? e.status : ''}`)).toEqual([
        'status:queued',
        'status:running',
        'step:running',
      ]);
      // the queued event keeps the intake time; a replay after it starts with the grant
      expect(events[0]!.at).toBe(init.at);
      expect(fresh.eventsAfter(1)[0]).toMatchObject({ seq: 2, kind: 'status', status: 'running' });
    });
  });

  it('a task made waiting in line is inserted with its denial (message, recheck time, log event): one row', async () => {
    const id = newTaskId();
    const init: TaskInit = {
      id,
      tenant: `rows-${id}`,
      body: QUICK,
      inputKey: null,
      bodyHash: 'h',
      origin: ORIGIN,
      at: Date.now(),
    };
    await runInDurableObject(env.TASKS.getByName(id), async (o: TaskObject, state) => {
      const seen = spy(state.storage.sql);
      try {
        expect(await makerOf(o).make(init, false)).toBe(true);
      } finally {
        seen.restore();
      }
      const written = seen.calls.filter((s) => s.cursor.rowsWritten > 0);
      expect(written.map((s) => s.text.split(' ').slice(0, 2).join(' '))).toEqual(['CREATE TABLE', 'INSERT INTO']);
      const fresh = new TaskStore(state.storage);
      expect(fresh.task()).toMatchObject({ status: 'queued', seq: 2 });
      expect(fresh.task()?.message).toMatch(/waiting for a free slot/);
      expect(fresh.task()?.runAt).not.toBeNull();
      expect(fresh.eventsAfter(0).map((e) => `${e.seq}:${e.kind}`)).toEqual(['1:status', '2:log']);
      await o.cancel(init.tenant, ORIGIN);
    });
  });

  it('a first move that fails writes nothing: no row, no schema, and the next hand-off makes the task', async () => {
    const id = newTaskId();
    const init: TaskInit = {
      id,
      tenant: `rows-${id}`,
      body: QUICK,
      inputKey: null,
      bodyHash: 'h',
      origin: ORIGIN,
      at: Date.now(),
    };
    await runInDurableObject(env.TASKS.getByName(id), async (o: TaskObject, state) => {
      const store = (o as unknown as { store: TaskStore }).store;
      const applyMove = store.applyMove.bind(store);
      store.applyMove = () => {
        throw new Error('disk full');
      };
      await expect(makerOf(o).make(init, false)).rejects.toThrow('disk full');
      store.applyMove = applyMove;
      expect(store.task()).toBeNull();
      const found = state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'task'").toArray();
      expect(found).toEqual([]);
      expect(fromBaseline(state.storage)).toBe(false);
      expect(await makerOf(o).make(init, false)).toBe(true);
      expect(new TaskStore(state.storage).eventsAfter(0).map((e) => e.seq)).toEqual([1, 2]);
      await o.cancel(init.tenant, ORIGIN);
    });
  });
});

/** Every statement the object runs (its text, arguments and cursor) until `restore`. */
function spy(sql: SqlStorage) {
  const calls: { text: string; args: SqlStorageValue[]; cursor: SqlStorageCursor<Record<string, SqlStorageValue>> }[] =
    [];
  const exec = sql.exec.bind(sql);
  sql.exec = ((text: string, ...args: SqlStorageValue[]) => {
    const cursor = exec(text, ...args);
    calls.push({ text, args, cursor });
    return cursor;
  }) as typeof sql.exec;
  return { calls, restore: () => (sql.exec = exec) };
}

function makerOf(o: TaskObject): TaskMaker {
  return (o as unknown as { maker: TaskMaker }).maker;
}
