/** The tenant's task index: listing newest first, filters, pagination, and health counts. */
import { describe, expect, it } from 'vitest';
import { call, createTask } from './helpers.ts';

interface Page {
  tasks: { id: string; status: string; source: string; ops: string }[];
  cursor: string | null;
}

async function list(query = ''): Promise<Page> {
  return (await (await call(`/api/tasks${query}`)).json()) as Page;
}

async function eventually(fn: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition never held');
}

describe('GET /api/tasks', () => {
  it('lists the tenant tasks newest first, filters by status and text, and pages with a cursor', async () => {
    const marker = crypto.randomUUID().slice(0, 8);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { json } = await createTask({
        input: { url: `http://127.0.0.1:1/${marker}/${i}.mp4` },
        steps: [{ op: 'probe' }],
      });
      ids.push(json.id);
      await new Promise((r) => setTimeout(r, 3));
    }
    await call(`/api/tasks/${ids[0]}/cancel`, { method: 'POST' });
    await eventually(async () => (await list(`?q=${marker}`)).tasks.length === 5);
    const all = await list(`?q=${marker}`);
    expect(all.tasks.map((t) => t.id)).toEqual([...ids].reverse());
    expect(all.tasks[0]!.ops).toBe('probe');
    await eventually(async () => (await list(`?q=${marker}&status=canceled`)).tasks.length === 1);
    expect((await list(`?q=${marker}&status=canceled`)).tasks[0]!.id).toBe(ids[0]);

    const first = await list(`?q=${marker}&limit=2`);
    expect(first.tasks.map((t) => t.id)).toEqual([ids[4], ids[3]]);
    const second = await list(`?q=${marker}&limit=2&cursor=${first.cursor}`);
    expect(second.tasks.map((t) => t.id)).toEqual([ids[2], ids[1]]);
    const third = await list(`?q=${marker}&limit=2&cursor=${second.cursor}`);
    expect(third.tasks.map((t) => t.id)).toEqual([ids[0]]);
    expect(third.cursor).toBeNull();

    await call(`/api/tasks/${ids[1]}`, { method: 'DELETE' });
    expect((await list(`?q=${marker}`)).tasks.map((t) => t.id)).not.toContain(ids[1]);
  });

  it('rejects an unknown status filter', async () => {
    const res = await call('/api/tasks?status=exploded');
    expect(res.status).toBe(400);
  });
});

describe('GET /api/health', () => {
  it('reports queue counts by status and the runner', async () => {
    const res = await call('/api/health');
    const h = (await res.json()) as { queue: Record<string, number>; components: { runner: { reachable: boolean } } };
    expect(h.components.runner.reachable).toBe(true);
    for (const k of ['queued', 'running', 'retrying', 'succeeded', 'failed', 'canceled', 'stalled']) {
      expect(typeof h.queue[k]).toBe('number');
    }
  });
});
