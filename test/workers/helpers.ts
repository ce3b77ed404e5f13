/** Small helpers for tests that run inside workerd: calling the Worker and reading WebSockets. */
import { exports } from 'cloudflare:workers';
import type { TaskSnapshot, WireMessage } from '../../src/protocol/task.ts';

export const ORIGIN = 'http://clipyard.test';

export function call(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`${ORIGIN}${path}`, { redirect: 'manual', ...init }));
}

export async function createTask(body: unknown, headers: Record<string, string> = {}) {
  const res = await call('/api/tasks', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { res, json: (await res.json()) as { id: string; status: string; created: boolean; task: TaskSnapshot } };
}

/** A WebSocket to a task's event stream that collects messages, with a timeout on every wait. */
export async function openSocket(id: string, after = 0) {
  const res = await call(`/api/tasks/${id}/events?after=${after}`, { headers: { upgrade: 'websocket' } });
  const ws = res.webSocket;
  if (!ws) throw new Error(`no WebSocket (status ${res.status})`);
  ws.accept();
  const messages: WireMessage[] = [];
  let closed: { code: number } | null = null;
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  ws.addEventListener('message', (e) => {
    messages.push(JSON.parse(String(e.data)) as WireMessage);
    wake();
  });
  ws.addEventListener('close', (e) => {
    closed = { code: e.code };
    wake();
  });
  async function until(pred: () => boolean, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`socket wait timed out; got ${JSON.stringify(messages)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  return { ws, messages, closed: () => closed, until };
}
