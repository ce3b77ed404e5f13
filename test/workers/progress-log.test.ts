/**
 * Progress in the task's log: a progress event goes out before it is written (written in batches),
 * every read already includes it, and seq numbers stay gap-free and unique across a crash that lost
 * the unwritten ones (see src/objects/pending-progress.ts).
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { FLUSH_INTERVAL_MS, SEQ_RESERVE } from '../../src/objects/pending-progress.ts';
import { TaskStore } from '../../src/objects/task-store.ts';
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import { call, createTask } from './helpers.ts';

const TASK = { input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'audio', format: 'mp3' }] };

async function waitStatus(id: string, status: string): Promise<TaskSnapshot> {
  for (let i = 0; i < 100; i++) {
    const s = (await (await call(`/api/tasks/${id}`)).json()) as TaskSnapshot;
    if (s.status === status) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`task ${id} never became ${status}`);
}

const tick = (progress: number) =>
  ({ kind: 'progress', step: 0, stage: 'extracting', progress, stepProgress: progress, message: 'p' }) as const;

describe('progress in the event log', () => {
  it('is sent before it is written, read back from memory, then written in one batch', async () => {
    const { json } = await createTask(TASK);
    await waitStatus(json.id, 'running');
    await runInDurableObject(env.TASKS.getByName(json.id), async (obj, state) => {
      // the object's own store: it is the only writer of its rows, and numbers events from its copy
      const store = (obj as unknown as { store: TaskStore }).store;
      store.flush();
      const t0 = store.task()!;
      // a running task keeps seqs reserved ahead of the log, so a progress event needs no write first
      expect(t0.seqReserved).toBeGreaterThan(t0.seq);
      // what a new instance reads: only what is durably written
      const written = () => new TaskStore(state.storage).eventsAfter(t0.seq).length;
      const a = store.appendProgress(tick(20), { progress: 20 }, 0, 20);
      const b = store.appendProgress(tick(30), { progress: 30 }, 0, 30);
      expect([a.seq, b.seq]).toEqual([t0.seq + 1, t0.seq + 2]);
      expect(written()).toBe(0);
      expect(store.eventsAfter(t0.seq).map((e) => e.seq)).toEqual([a.seq, b.seq]);
      expect(store.task()).toMatchObject({ seq: b.seq, progress: 30 });
      expect(store.steps()[0]!.progress).toBe(30);
      // any other write takes the pending ones with it, in order
      const log = store.appendEvent({ kind: 'log', step: 0, level: 'info', message: 'x' });
      expect(log.seq).toBe(b.seq + 1);
      expect(written()).toBe(3);
      const fresh = new TaskStore(state.storage);
      expect(fresh.task()).toMatchObject({ seq: log.seq, progress: 30 });
      expect(fresh.eventsAfter(t0.seq).map((e) => e.seq)).toEqual([a.seq, b.seq, log.seq]);
    });
    await call(`/api/tasks/${json.id}/cancel`, { method: 'POST' });
  });

  it('after a crash that lost unwritten progress, every seq is in the log and none is handed out twice', async () => {
    const { json } = await createTask(TASK);
    await waitStatus(json.id, 'running');
    await call(`/api/tasks/${json.id}/cancel`, { method: 'POST' });
    await runInDurableObject(env.TASKS.getByName(json.id), async (_obj, state) => {
      const before = new TaskStore(state.storage);
      const last = before.task()!.seq;
      let sent = 0;
      for (let i = 1; i <= 3; i++) sent = before.appendProgress(tick(i * 10), { progress: i * 10 }, 0, i * 10).seq;
      expect(sent).toBe(last + 3);
      // the crash: the instance and what it had pending are gone
      const lost = before as unknown as { pending: { clear(): void }; flushTimer: ReturnType<typeof setTimeout> };
      clearTimeout(lost.flushTimer);
      lost.pending.clear();

      const after = new TaskStore(state.storage);
      expect(after.recover()).toBeGreaterThanOrEqual(3);
      expect(after.recover()).toBe(0);
      const seqs = after.eventsAfter(0).map((e) => e.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      expect(seqs.at(-1)).toBeGreaterThanOrEqual(sent);
      expect(seqs.at(-1)! - last).toBeLessThanOrEqual(SEQ_RESERVE + 3);
      const next = after.appendEvent({ kind: 'log', step: null, level: 'info', message: 'after the crash' });
      expect(next.seq).toBeGreaterThan(sent);
    });
  });

  it('a patch without an event waits for the next write, like progress, and reads include it at once', async () => {
    const { json } = await createTask(TASK);
    await waitStatus(json.id, 'running');
    await call(`/api/tasks/${json.id}/cancel`, { method: 'POST' });
    await runInDurableObject(env.TASKS.getByName(json.id), async (_obj, state) => {
      // a store of its own: the object's driver has stopped, nothing else writes
      const store = new TaskStore(state.storage);
      const seq = store.task()!.seq;
      store.patch({ stage: 'storing', message: 'saving a.mp3' });
      expect(store.task()).toMatchObject({ stage: 'storing', message: 'saving a.mp3', seq });
      // not written yet: a new instance (a crash) would not see it
      expect(new TaskStore(state.storage).task()!.message).not.toBe('saving a.mp3');
      const p = store.appendProgress(tick(40), { progress: 40, message: 'p' }, 0, 40);
      store.flush();
      expect(new TaskStore(state.storage).task()).toMatchObject({ stage: 'storing', seq: p.seq, progress: 40 });
      // alone, it is written by the flush timer
      store.patch({ message: 'on its own' });
      await new Promise((r) => setTimeout(r, FLUSH_INTERVAL_MS + 200));
      expect(new TaskStore(state.storage).task()).toMatchObject({ message: 'on its own', seq: p.seq });
    });
  });
});
