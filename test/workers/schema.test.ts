/**
 * The task object's schema: a new object starts from BASELINE (task-schema.ts) instead of replaying
 * every migration; its tables must be the ones the migrations build, column for column, or an old
 * object and a new one would disagree about what a row holds.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { applyMigrations } from '../../src/objects/migrations.ts';
import { SPILL_EVENTS } from '../../src/objects/task-log.ts';
import {
  BASELINE,
  BASELINE_DIFFERS,
  BASELINE_OMITS,
  fromBaseline,
  MIGRATIONS,
  migrate,
  SCHEMA_VERSION,
} from '../../src/objects/task-schema.ts';
import { TaskStore } from '../../src/objects/task-store.ts';
import { WebhookOutbox } from '../../src/objects/webhook-outbox.ts';
import type { TaskEvent } from '../../src/protocol/task.ts';
import { call, createTask } from './helpers.ts';

type Column = { name: string; type: string; notnull: number; dflt_value: string | null; pk: number };

function tables(sql: SqlStorage): Record<string, Column[]> {
  const names = sql
    .exec<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name",
    )
    .toArray()
    .map((r) => r.name);
  const out: Record<string, Column[]> = {};
  for (const n of names) {
    out[n] = sql
      .exec<Column>('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY name', n)
      .toArray()
      .map((c) => ({ ...c }));
  }
  return out;
}

describe('task schema', () => {
  it('an object that only answers "no such task" writes nothing, and a deleted task leaves nothing', async () => {
    const res = await call('/api/tasks/nosuchtaskschema0001');
    expect(res.status).toBe(404);
    await res.body?.cancel();
    await runInDurableObject(env.TASKS.getByName('nosuchtaskschema0001'), (_obj, state) => {
      expect(tables(state.storage.sql)).toEqual({});
    });
    const { json } = await createTask({ input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' }] });
    const del = await call(`/api/tasks/${json.id}`, { method: 'DELETE' });
    expect(del.status).toBeLessThan(300);
    await del.body?.cancel();
    await runInDurableObject(env.TASKS.getByName(json.id), (_obj, state) => {
      expect(tables(state.storage.sql)).toEqual({});
    });
    expect((await call(`/api/tasks/${json.id}`)).status).toBe(404);
  });

  it('a new object starts at the current version with the tables the migrations build, minus the omitted ones', async () => {
    const { json } = await createTask({ input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' }] });
    await runInDurableObject(env.TASKS.getByName(json.id), (_obj, state) => {
      const sql = state.storage.sql;
      // the version is a column of the task row; no version table
      const version = sql.exec<{ v: number }>('SELECT schema_version AS v FROM task').one().v;
      expect(version).toBe(SCHEMA_VERSION);
      expect(BASELINE.version).toBeLessThanOrEqual(SCHEMA_VERSION);
      const fresh = tables(sql);
      expect(fresh.schema_migrations).toBeUndefined();
      for (const t of Object.keys(fresh)) sql.exec(`DROP TABLE ${t}`);
      applyMigrations(state.storage, MIGRATIONS);
      const replayed = tables(sql);
      delete replayed.schema_migrations;
      for (const t of BASELINE_OMITS) {
        expect(fresh[t]).toBeUndefined();
        delete replayed[t];
      }
      const { table, column, pk } = BASELINE_DIFFERS;
      const col = replayed[table]?.find((c) => c.name === column);
      expect(col?.pk).not.toBe(pk);
      if (col) {
        col.pk = pk;
        col.notnull = 1;
      }
      expect(fresh).toEqual(replayed);
    });
  });

  it('the events table the log creates when a tail grows long is the one the migrations build', async () => {
    const { json } = await createTask({ input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' }] });
    await runInDurableObject(env.TASKS.getByName(json.id), (obj, state) => {
      const store = (obj as unknown as { store: TaskStore }).store;
      for (let i = 0; i < SPILL_EVENTS; i++)
        store.appendEvent({ kind: 'log', step: 0, level: 'info', message: `${i}` });
      const created = tables(state.storage.sql).events;
      expect(created).toBeDefined();
      for (const t of Object.keys(tables(state.storage.sql))) state.storage.sql.exec(`DROP TABLE ${t}`);
      applyMigrations(state.storage, MIGRATIONS);
      expect(created).toEqual(tables(state.storage.sql).events);
    });
  });

  it('an object written before migration 8 (its events in the table) replays them all, then its new ones', async () => {
    await runInDurableObject(env.TASKS.getByName('schema-v7'), (_obj, state) => {
      const sql = state.storage.sql;
      for (const t of Object.keys(tables(sql))) sql.exec(`DROP TABLE ${t}`);
      // what main wrote: a row per status or step event, a row per flush of progress (last_seq set)
      applyMigrations(state.storage, MIGRATIONS.slice(0, 7));
      sql.exec(
        `INSERT INTO task (id, tenant, status, max_attempts, attempts_per_run, input, body_hash, seq, seq_reserved,
           created_at, updated_at, steps, outputs)
         VALUES ('schema-v7', 'local', 'running', 3, 3, '{"url":"http://x.test/a.mp4"}', 'h', 5, 5, 1, 5,
           '[{"index":0,"op":"probe","params":{"op":"probe"},"status":"running","progress":20}]', '[]')`,
      );
      const event = 'INSERT INTO events (seq, at, kind, body, last_seq) VALUES (?, ?, ?, ?, ?)';
      sql.exec(
        event,
        1,
        1,
        'status',
        JSON.stringify({ kind: 'status', status: 'queued', message: 'q', attempt: 1 }),
        null,
      );
      sql.exec(
        event,
        2,
        2,
        'status',
        JSON.stringify({ kind: 'status', status: 'running', message: 'r', attempt: 1 }),
        null,
      );
      sql.exec(event, 3, 3, 'step', JSON.stringify({ kind: 'step', step: 0, op: 'probe', status: 'running' }), null);
      const progress = (seq: number, p: number): TaskEvent => ({
        kind: 'progress',
        seq,
        at: seq,
        step: 0,
        stage: 'probing',
        progress: p,
        stepProgress: p,
        message: 'p',
      });
      sql.exec(event, 4, 4, 'progress', JSON.stringify([progress(4, 10), progress(5, 20)]), 5);

      migrate(state.storage);
      const store = new TaskStore(state.storage);
      const next = store.appendEvent({ kind: 'log', step: 0, level: 'info', message: 'after the migration' });
      expect(next.seq).toBe(6);
      const fresh = new TaskStore(state.storage);
      const all = fresh.eventsAfter(0);
      expect(all.map((e) => [e.seq, e.kind])).toEqual([
        [1, 'status'],
        [2, 'status'],
        [3, 'step'],
        [4, 'progress'],
        [5, 'progress'],
        [6, 'log'],
      ]);
      expect(all[4]).toMatchObject({ progress: 20 });
      for (let after = 0; after <= 6; after++) {
        expect(fresh.eventsAfter(after).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6].filter((q) => q > after));
      }
      // the new event went to the row's tail, not the table
      expect(sql.exec('SELECT MAX(seq) AS n FROM events').one().n).toBe(4);
    });
  });
  it('an object written at version 8 (its version in schema_migrations) migrates to 9 and keeps working', async () => {
    await runInDurableObject(env.TASKS.getByName('schema-v8'), async (_obj, state) => {
      const sql = state.storage.sql;
      for (const t of Object.keys(tables(sql))) sql.exec(`DROP TABLE ${t}`);
      applyMigrations(state.storage, MIGRATIONS.slice(0, 8));
      const tail = [{ kind: 'status', status: 'queued', message: 'q', attempt: 1, progress: 0, seq: 1, at: 1 }];
      sql.exec(
        `INSERT INTO task (id, tenant, status, max_attempts, attempts_per_run, input, body_hash, seq, created_at,
           updated_at, steps, outputs, tail)
         VALUES ('schema-v8', 'local', 'queued', 3, 3, '{"url":"http://x.test/a.mp4"}', 'h', 1, 1, 1,
           '[{"index":0,"op":"probe","params":{"op":"probe"},"status":"pending","progress":0}]', '[]', ?)`,
        JSON.stringify(tail),
      );
      migrate(state.storage);
      const version = (q: string) => sql.exec<{ v: number }>(q).one().v;
      expect(version('SELECT MAX(version) AS v FROM schema_migrations')).toBe(SCHEMA_VERSION);
      expect(version('SELECT schema_version AS v FROM task')).toBe(0);
      const store = new TaskStore(state.storage);
      expect(store.task()).toMatchObject({ id: 'schema-v8', status: 'queued', seq: 1 });
      const next = store.appendEvent({ kind: 'log', step: 0, level: 'info', message: 'after the migration' });
      expect(next.seq).toBe(2);
      // opened again: nothing left to apply, everything still there
      migrate(state.storage);
      expect(new TaskStore(state.storage).eventsAfter(0).map((e) => e.seq)).toEqual([1, 2]);
      // not made from the baseline: its outbox looks its tables up (migration 5 built them) and finds its target
      expect(fromBaseline(state.storage)).toBe(false);
      sql.exec("INSERT INTO webhook_target (one, url, events, origin) VALUES (1, 'https://hook.test/', '[]', 'o')");
      const outbox = new WebhookOutbox(state.storage, () => {
        throw new Error('not delivering');
      });
      expect(outbox.target()).toEqual({ url: 'https://hook.test/', events: [] });
    });
  });

  it('an object whose create made its schema from the baseline knows it has no events or outbox tables', async () => {
    const { json } = await createTask({ input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' }] });
    await runInDurableObject(env.TASKS.getByName(json.id), (_obj, state) => {
      expect(fromBaseline(state.storage)).toBe(true);
      const found = tables(state.storage.sql);
      for (const t of ['events', 'webhook_target', 'webhook_deliveries', 'webhook_attempts']) {
        expect(found[t]).toBeUndefined();
      }
      // a rollback or a new instance reads SQLite again
      migrate(state.storage);
      expect(fromBaseline(state.storage)).toBe(false);
    });
  });

  it('an object with its version in the task row applies a later migration and records it there', async () => {
    const { json } = await createTask({ input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' }] });
    await runInDurableObject(env.TASKS.getByName(json.id), (_obj, state) => {
      const sql = state.storage.sql;
      const later = [...MIGRATIONS, 'ALTER TABLE task ADD COLUMN later_column TEXT;'];
      migrate(state.storage, later);
      const version = () => sql.exec<{ v: number }>('SELECT schema_version AS v FROM task').one().v;
      expect(version()).toBe(MIGRATIONS.length + 1);
      expect(tables(sql).task?.some((c) => c.name === 'later_column')).toBe(true);
      expect(tables(sql).schema_migrations).toBeUndefined();
      // applied once: opening again does not run it again (it would fail: the column exists)
      migrate(state.storage, later);
      expect(version()).toBe(MIGRATIONS.length + 1);
      expect(new TaskStore(state.storage).task()).toMatchObject({ id: json.id });
    });
  });
});
