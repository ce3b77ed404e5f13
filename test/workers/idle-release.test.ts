/**
 * Idle release (src/objects/idle-release.ts): a task object with nothing to do leaves memory after
 * IDLE_RELEASE_MS (200 ms in vitest.config.ts; one waiting in line after 5 times that) and answers
 * exactly as before when it is next called;
 * one with a subscriber, or a call in flight, stays. An instance is told apart from its successor by
 * a mark set on it (runInDurableObject hands the live instance); a new stub reaches the new one.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { newTaskId } from '../../src/lib/ids.ts';
import { IdleRelease, isReset, RELEASE_REASON, retryOnReset } from '../../src/objects/idle-release.ts';
import type { TaskObject } from '../../src/objects/task-object.ts';
import type { TaskEvent, TaskSnapshot } from '../../src/protocol/task.ts';
import { call, createTask, ORIGIN, openSocket } from './helpers.ts';

const TASK = {
  input: { url: 'http://127.0.0.1:1/clip.mp4' },
  steps: [{ op: 'audio' as const, format: 'mp3' as const }],
};
const IDLE_MS = Number(env.IDLE_RELEASE_MS);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Marked = { __mark?: string };

// runInDurableObject is not one of the object's counted entry points, so a release may meet it in
// flight (a reset): it then asks again through a new stub, which reaches the rebuilt instance.

/** Mark the task's live instance (making it live if it is not). */
async function mark(id: string, value: string): Promise<void> {
  await retryOnReset(
    () => env.TASKS.getByName(id),
    (stub) =>
      runInDurableObject(stub, (o: TaskObject) => {
        (o as unknown as Marked).__mark = value;
      }),
  );
}

/** The mark of the task's live instance: undefined when it was released and built again. */
async function markOf(id: string): Promise<string | undefined> {
  return retryOnReset(
    () => env.TASKS.getByName(id),
    (stub) => runInDurableObject(stub, (o: TaskObject) => (o as unknown as Marked).__mark),
  );
}

async function snapshot(id: string): Promise<TaskSnapshot> {
  const res = await call(`/api/tasks/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as TaskSnapshot;
}

/** A task waiting in line: its create is told by a stand-in tenant that no slot is free. */
async function queuedTask(): Promise<string> {
  const id = newTaskId();
  const tenants = { getByName: () => ({ enter: async () => ({ ok: true, granted: false }) }) };
  await runInDurableObject(env.TASKS.getByName(id), async (o: TaskObject) => {
    const holder = o as unknown as { env: Env };
    const real = holder.env;
    holder.env = new Proxy(real, { get: (t, k) => (k === 'TENANTS' ? tenants : Reflect.get(t, k)) });
    try {
      await o.create({ id, tenant: 'local', body: TASK, inputKey: null, bodyHash: 'h', origin: ORIGIN });
    } finally {
      holder.env = real;
    }
  });
  return id;
}

/** A task that has ended (canceled), with its events up to then. */
async function endedTask(): Promise<{ id: string; ended: TaskSnapshot }> {
  const { json } = await createTask(TASK);
  const res = await call(`/api/tasks/${json.id}/cancel`, { method: 'POST' });
  expect(res.status).toBe(200);
  return { id: json.id, ended: (await res.json()) as TaskSnapshot };
}

describe('idle release of task objects', () => {
  it('is on in these tests', () => {
    expect(IDLE_MS).toBeGreaterThan(0);
  });

  it('an ended task leaves memory once idle, and answers the same snapshot and replay afterwards', async () => {
    const { id, ended } = await endedTask();
    expect(ended.status).toBe('canceled');
    await mark(id, 'first');
    await sleep(IDLE_MS + 50);
    // nothing was called meanwhile: still the same instance until the idle time has passed
    await sleep(IDLE_MS * 2);
    expect(await markOf(id)).toBeUndefined();
    const again = await snapshot(id);
    expect(again).toMatchObject({ id, status: 'canceled', seq: ended.seq, steps: ended.steps });
    // the log replays gap-free from storage after the rebuild
    const sock = await openSocket(id, 0);
    await sock.until(() => sock.closed() !== null);
    const seqs = sock.messages.flatMap((m) => (m.type === 'event' ? [(m.event as TaskEvent).seq] : []));
    expect(seqs).toEqual(Array.from({ length: ended.seq }, (_, i) => i + 1));
  });

  it('a queued task stays while a subscriber is connected, leaves after, and starts on its grant', async () => {
    const id = await queuedTask();
    const sock = await openSocket(id, 0);
    await sock.until(() => sock.messages.some((m) => m.type === 'snapshot'));
    await mark(id, 'watched');
    // longer than a waiting task's idle time (5 x IDLE_RELEASE_MS): only the subscriber keeps it
    await sleep(IDLE_MS * 8);
    expect(await markOf(id)).toBe('watched');
    sock.ws.close(1000, 'bye');
    // a waiting task stays idle longer than an ended one before it leaves (its grant may be near)
    await sleep(IDLE_MS * 2);
    expect(await markOf(id)).toBe('watched');
    let released = false;
    for (let i = 0; i < 40 && !released; i++) {
      await sleep(IDLE_MS);
      released = (await markOf(id)) === undefined;
      if (!released) await mark(id, 'watched');
    }
    expect(released).toBe(true);
    expect((await snapshot(id)).status).toBe('queued');
    // the tenant's grant reaches the rebuilt object, which starts the task
    expect(await env.TASKS.getByName(id).slotGranted()).toBe(true);
    expect((await snapshot(id)).status).toBe('running');
    await call(`/api/tasks/${id}/cancel`, { method: 'POST' });
  });

  it('a running task (its job in flight) is never released', async () => {
    const { json } = await createTask(TASK);
    await mark(json.id, 'running');
    await sleep(IDLE_MS * 4);
    expect(await markOf(json.id)).toBe('running');
    expect((await snapshot(json.id)).status).toBe('running');
    await call(`/api/tasks/${json.id}/cancel`, { method: 'POST' });
  });

  it('an id that names no task is released too, and still answers 404', async () => {
    const missing = 'aaaaaaaaaaaaaaaaaaaa';
    expect((await call(`/api/tasks/${missing}`)).status).toBe(404);
    await mark(missing, 'empty');
    await sleep(IDLE_MS * 3);
    expect(await markOf(missing)).toBeUndefined();
    expect((await call(`/api/tasks/${missing}`)).status).toBe(404);
  });

  it('a call in flight for longer than the idle time keeps its instance, and its writes', async () => {
    const { id } = await endedTask();
    await runInDurableObject(env.TASKS.getByName(id), async (_o: TaskObject, state) => {
      const probe = new IdleRelease(state, 20, () => 0);
      const kept = await probe.during(async () => {
        await sleep(150);
        state.storage.sql.exec('CREATE TABLE IF NOT EXISTS idle_probe (v TEXT)');
        state.storage.sql.exec("INSERT INTO idle_probe VALUES ('kept')");
        return 'done';
      });
      expect(kept).toBe('done');
    });
    // the probe releases 20 ms after that call: the row it wrote was committed first
    await sleep(200);
    const rows = await runInDurableObject(env.TASKS.getByName(id), (_o: TaskObject, state) =>
      state.storage.sql.exec('SELECT v FROM idle_probe').toArray(),
    );
    expect(rows).toEqual([{ v: 'kept' }]);
  });

  it('a stub held across a release fails with a reset; retryOnReset reaches the rebuilt object', async () => {
    const { id } = await endedTask();
    const held = env.TASKS.getByName(id);
    expect(((await held.get('local', 'http://x')) as { ok: boolean }).ok).toBe(true);
    await sleep(IDLE_MS * 3);
    const err = await held.get('local', 'http://x').then(
      () => null,
      (e: unknown) => e,
    );
    expect(isReset(err)).toBe(true);
    expect(String((err as Error).message)).toContain(RELEASE_REASON);
    const again = await retryOnReset(
      () => held,
      (s) => s.get('local', 'http://x'),
    ).catch((e: unknown) => e);
    // the held stub stays broken: a retry must take a new one
    expect(isReset(again)).toBe(true);
    const fresh = await retryOnReset(
      () => env.TASKS.getByName(id),
      (s) => s.get('local', 'http://x'),
    );
    expect(fresh).toMatchObject({ ok: true });
  });
});
