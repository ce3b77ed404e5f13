/**
 * The broadcast's list of sockets (src/objects/subscribers.ts keeps the one ctx.getWebSockets() gave
 * until a socket comes or goes): every live event reaches exactly the subscribers connected when it
 * is sent, whoever joined or left before.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { TaskSockets } from '../../src/objects/task-sockets.ts';
import type { TaskStore } from '../../src/objects/task-store.ts';
import type { TaskSnapshot, WireMessage } from '../../src/protocol/task.ts';
import { call, createTask, openSocket } from './helpers.ts';

const TASK = { input: { url: 'http://127.0.0.1:1/a.mp4' }, steps: [{ op: 'audio', format: 'mp3' }] };

async function waitStatus(id: string, status: string): Promise<TaskSnapshot> {
  for (let i = 0; i < 100; i++) {
    const s = (await (await call(`/api/tasks/${id}`)).json()) as TaskSnapshot;
    if (s.status === status) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`task ${id} never became ${status}`);
}

type Parts = { store: TaskStore; sockets: TaskSockets };

/** Append a log event in the task's object and broadcast it, as the object does with its events. */
async function send(id: string, message: string): Promise<void> {
  await runInDurableObject(env.TASKS.getByName(id), async (obj) => {
    const { store, sockets } = obj as unknown as Parts;
    sockets.broadcast(store.appendEvent({ kind: 'log', step: 0, level: 'info', message }));
  });
}

async function subscribers(id: string): Promise<number> {
  return runInDurableObject(env.TASKS.getByName(id), async (obj) => (obj as unknown as Parts).sockets.count);
}

const logs = (messages: WireMessage[]) =>
  messages.flatMap((m) => (m.type === 'event' && m.event.kind === 'log' ? [m.event.message] : []));

describe('live events and the subscribers of the moment', () => {
  it('reach a subscriber that joined after others, and not one that left', async () => {
    const { json } = await createTask(TASK);
    await waitStatus(json.id, 'running');
    const a = await openSocket(json.id);
    const b = await openSocket(json.id);
    await send(json.id, 'one');
    await a.until(() => logs(a.messages).includes('one'));
    await b.until(() => logs(b.messages).includes('one'));

    a.ws.close(1000, 'bye');
    for (let i = 0; i < 100 && (await subscribers(json.id)) > 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await subscribers(json.id)).toBe(1);
    const c = await openSocket(json.id);
    await send(json.id, 'two');
    await b.until(() => logs(b.messages).includes('two'));
    await c.until(() => logs(c.messages).includes('two'));
    // c connected with after=0: `one` came in its replay, `two` live, each once
    expect(logs(c.messages)).toEqual(['one', 'two']);
    expect(logs(b.messages)).toEqual(['one', 'two']);
    expect(logs(a.messages)).toEqual(['one']);

    const d = await openSocket(json.id);
    await send(json.id, 'three');
    for (const s of [b, c, d]) await s.until(() => logs(s.messages).includes('three'));
    expect(logs(d.messages)).toEqual(['one', 'two', 'three']);
    await call(`/api/tasks/${json.id}/cancel`, { method: 'POST' });
  });
});

describe("a task's end and its subscribers", () => {
  const SOCKETS = 23;

  it('closes every WebSocket normally, each after the terminal status', async () => {
    const { json } = await createTask(TASK);
    await waitStatus(json.id, 'running');
    const subs = [];
    for (let i = 0; i < SOCKETS; i++) subs.push(await openSocket(json.id));
    expect(await subscribers(json.id)).toBe(SOCKETS);
    await call(`/api/tasks/${json.id}/cancel`, { method: 'POST' });
    for (const s of subs) {
      await s.until(() => s.closed() !== null);
      expect(s.closed()).toEqual({ code: 1000 });
      const last = s.messages.at(-1);
      expect(last?.type === 'event' && last.event.kind === 'status' && last.event.status).toBe('canceled');
    }
    for (let i = 0; i < 100 && (await subscribers(json.id)) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await subscribers(json.id)).toBe(0);
  });
});
