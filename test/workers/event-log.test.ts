/** The event log stays bounded for long tasks without losing anything that shapes the state. */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { TaskStore } from '../../src/objects/task-store.ts';
import { createTask } from './helpers.ts';

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

  it('a flush writes its progress events as one row; a replay from any seq has exactly the later ones', async () => {
    const { json } = await createTask({ input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'probe' }] });
    await runInDurableObject(env.TASKS.getByName(json.id), (obj, state) => {
      const store = (obj as unknown as { store: TaskStore }).store;
      store.flush();
      const rows = () => Number(state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM events').one().n);
      const rowsBefore = rows();
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
      expect(rows()).toBe(rowsBefore + 1);
      const log = store.appendEvent({ kind: 'log', step: 0, level: 'info', message: 'after' });
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
