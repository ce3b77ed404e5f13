/** The event log stays bounded for long tasks without losing anything that shapes the state. */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { SPILL_EVENTS } from '../../src/objects/task-log.ts';
import { TaskStore } from '../../src/objects/task-store.ts';
import { createTask } from './helpers.ts';

/** Rows written by every statement the object runs from now until stop() (what the bill counts). */
function rowsWritten(storage: DurableObjectStorage): { rows(): number; stop(): void } {
  const sql = storage.sql;
  const exec = sql.exec.bind(sql);
  const cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[] = [];
  sql.exec = ((query: string, ...bindings: unknown[]) => {
    const c = exec(query, ...bindings);
    cursors.push(c);
    return c;
  }) as typeof sql.exec;
  return {
    rows: () => cursors.reduce((n, c) => n + c.rowsWritten, 0),
    stop: () => {
      sql.exec = exec;
    },
  };
}

function tableExists(sql: SqlStorage, name: string): boolean {
  return sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", name).toArray().length > 0;
}

describe('event log compaction', () => {
  it('drops old progress events only, keeps the last per step and every status/step/output event', async () => {
    const { json } = await createTask({
      input: { url: 'http://127.0.0.1:1/a.mp4' },
      steps: [{ op: 'probe' }, { op: 'audio' }],
    });
    await runInDurableObject(env.TASKS.getByName(json.id), (_obj, state) => {
      const store = new TaskStore(state.storage);
      for (let i = 0; i < 1500; i++) {
        store.appendEvent({
          kind: 'progress',
          step: 0,
          stage: 'probing',
          progress: i / 30,
          stepProgress: i / 15,
          message: 'p',
        });
      }
      store.appendEvent({
        kind: 'output',
        step: 0,
        output: { name: 'probe.json', step: 0, size: 10, contentType: 'application/json' },
      });
      store.appendEvent({ kind: 'step', step: 0, status: 'succeeded', op: 'probe' });
      for (let i = 0; i < 1500; i++) {
        store.appendEvent({
          kind: 'progress',
          step: 1,
          stage: 'extracting',
          progress: 50 + i / 30,
          stepProgress: i / 15,
          message: 'p',
        });
      }
      const before = store.eventsAfter(0, 100_000);
      const removed = store.compact(2_000, 500);
      const after = store.eventsAfter(0, 100_000);
      expect(removed).toBeGreaterThan(2_000);
      expect(after.length).toBe(before.length - removed);
      expect(after.length).toBeLessThan(700);
      // nothing but progress was removed, and the newest events are all still there
      const kept = new Set(after.map((e) => e.seq));
      for (const e of before) if (e.kind !== 'progress') expect(kept.has(e.seq)).toBe(true);
      expect(after.slice(-500)).toEqual(before.slice(-500));
      // the last progress of step 0 survives, so a replay still shows where step 0 ended
      const lastStep0 = before.filter((e) => e.kind === 'progress' && e.step === 0).at(-1)!;
      expect(kept.has(lastStep0.seq)).toBe(true);
      // seq keeps counting from where it was
      const next = store.appendEvent({ kind: 'log', step: null, level: 'info', message: 'x' });
      expect(next.seq).toBe(before.at(-1)!.seq + 1);
      expect(store.compact(2_000, 500)).toBe(0);
    });
  });

  it('a flush writes one row (the task row, with its tail of events); a replay from any seq has exactly the later ones', async () => {
    const { json } = await createTask({ input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' }] });
    await runInDurableObject(env.TASKS.getByName(json.id), (obj, state) => {
      const store = (obj as unknown as { store: TaskStore }).store;
      store.flush();
      const written = rowsWritten(state.storage);
      const base = store.task()!.seq;
      const sent = [1, 2, 3, 4].map(
        (i) =>
          store.appendProgress(
            { kind: 'progress', step: 0, stage: 'probing', progress: i, stepProgress: i, message: `p${i}` },
            { progress: i },
            0,
            i,
          ).seq,
      );
      store.flush();
      // a short log is in the task row: a new object has no events table at all
      expect(written.rows()).toBe(1);
      expect(tableExists(state.storage.sql, 'events')).toBe(false);
      const log = store.appendEvent({ kind: 'log', step: 0, level: 'info', message: 'after' });
      expect(written.rows()).toBe(2);
      written.stop();
      // a new instance reads what is written: each seq once, in order, from any starting point
      const fresh = new TaskStore(state.storage);
      const all = fresh.eventsAfter(0).map((e) => e.seq);
      expect(all).toEqual(all.map((_, i) => i + 1));
      for (let after = base - 1; after <= log.seq; after++) {
        expect(fresh.eventsAfter(after).map((e) => e.seq)).toEqual(all.filter((q) => q > after));
      }
      const replayed = fresh.eventsAfter(sent[1]!);
      expect(replayed[0]).toMatchObject({ seq: sent[2], kind: 'progress', message: 'p3', progress: 3 });
      expect(replayed.at(-1)).toMatchObject({ seq: log.seq, kind: 'log' });
    });
  });

  it('a tail that grows long moves to the events table in one row, and replays as before', async () => {
    const { json } = await createTask({ input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' }] });
    await runInDurableObject(env.TASKS.getByName(json.id), (obj, state) => {
      const store = (obj as unknown as { store: TaskStore }).store;
      store.flush();
      const sql = state.storage.sql;
      const tail = () => (JSON.parse(String(sql.exec('SELECT tail FROM task').one().tail)) as unknown[]).length;
      const inTail = tail();
      const written = rowsWritten(state.storage);
      // one short of the bound, one transaction each: the task row only
      for (let i = inTail; i < SPILL_EVENTS - 1; i++) {
        store.appendEvent({ kind: 'log', step: 0, level: 'info', message: `m${i}` });
      }
      expect(written.rows()).toBe(SPILL_EVENTS - 1 - inTail);
      expect(tableExists(sql, 'events')).toBe(false);
      // the one that reaches it: the table is created (2 rows), the tail moves (1) and the row is written (1)
      const before = written.rows();
      const last = store.appendEvent({ kind: 'log', step: 0, level: 'info', message: 'the 64th' });
      expect(written.rows() - before).toBe(4);
      written.stop();
      expect(tail()).toBe(0);
      expect(sql.exec('SELECT COUNT(*) AS n FROM events').one().n).toBe(1);
      const next = store.appendEvent({ kind: 'log', step: 0, level: 'info', message: 'in the new tail' });
      expect(tail()).toBe(1);
      const fresh = new TaskStore(state.storage);
      const all = fresh.eventsAfter(0);
      expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
      expect(all.at(-2)).toMatchObject({ seq: last.seq, message: 'the 64th' });
      expect(all.at(-1)).toMatchObject({ seq: next.seq, message: 'in the new tail' });
      for (const after of [0, 1, last.seq - 1, last.seq, next.seq]) {
        expect(fresh.eventsAfter(after).map((e) => e.seq)).toEqual(all.map((e) => e.seq).filter((q) => q > after));
      }
    });
  });

  it('compaction drops whole old progress rows, never the newest of a step', async () => {
    const { json } = await createTask({ input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' }] });
    await runInDurableObject(env.TASKS.getByName(json.id), (obj) => {
      const store = (obj as unknown as { store: TaskStore }).store;
      store.flush();
      for (let g = 0; g < 600; g++) {
        for (let i = 0; i < 5; i++) {
          const p = (g * 5 + i) / 30;
          store.appendProgress(
            { kind: 'progress', step: 0, stage: 'probing', progress: p, stepProgress: p, message: 'p' },
            { progress: p },
            0,
            p,
          );
        }
        store.flush();
      }
      const before = store.eventsAfter(0, 100_000);
      const removed = store.compact(400, 500);
      const after = store.eventsAfter(0, 100_000);
      expect(removed).toBeGreaterThan(2_000);
      expect(after.length).toBe(before.length - removed);
      // the newest events are all there, and so is every event that is not progress
      expect(after.slice(-500)).toEqual(before.slice(-500));
      const kept = new Set(after.map((e) => e.seq));
      for (const e of before) if (e.kind !== 'progress') expect(kept.has(e.seq)).toBe(true);
    });
  });
});
