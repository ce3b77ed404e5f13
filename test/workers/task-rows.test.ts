/**
 * What a task object writes, counted the way the bill counts it (each cursor's rowsWritten): a new
 * task that gets a slot at once and runs one step writes its schema (the task table: 2 rows), its
 * row (1), then one UPDATE per transaction: the grant with the step's start, and the step's end with
 * the task's success. No version table (task-schema.ts), no transaction of its own for a step's start
 * or for the success after the last step (lib/task-lifecycle.ts). The events stay gap-free and in the
 * order a client always saw them. Its schema made from the baseline, it never asks sqlite_master which
 * tables exist (the baseline says: task-schema.ts).
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { newTaskId } from '../../src/lib/ids.ts';
import type { TaskObject } from '../../src/objects/task-object.ts';
import { TaskStore } from '../../src/objects/task-store.ts';
import { ORIGIN } from './helpers.ts';

const QUICK = { input: { url: 'http://127.0.0.1:1/quick/a.mp4' }, steps: [{ op: 'probe' as const }] };

describe('rows a task writes', () => {
  it('a one-step task granted at create writes 5 rows in 3 transactions, its events gap-free', async () => {
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
      expect(written.filter((s) => s.text.startsWith('UPDATE task'))).toHaveLength(2);
      expect(written.reduce((n, s) => n + s.cursor.rowsWritten, 0)).toBe(5);
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
});
