/**
 * The health panel: is the media runner reachable, with which ffmpeg, how many jobs it runs, and this
 * tenant's queue counts (including tasks that went quiet: "stalled"). Reads GET /api/health, which
 * answers 503 with the same body when something is down.
 */
import { apiKey } from './api.ts';
import { h } from './dom.ts';

interface Health {
  ok: boolean;
  components: {
    storage: { ok: boolean; error?: string };
    runner: {
      reachable: boolean | null;
      state?: string;
      mode?: string;
      version: string | null;
      ffmpeg: string | null;
      activeJobs: number | null;
      capacity: number | null;
      error?: string;
    };
  };
  queue: Record<string, number> | null;
}

function item(label: string, value: string, cls = ''): HTMLElement {
  return h('div', { class: `health-item ${cls}` }, h('dt', { text: label }), h('dd', { text: value }));
}

export async function renderHealth(root: HTMLElement): Promise<void> {
  let health: Health;
  try {
    const key = apiKey();
    const res = await fetch('/api/health', { headers: key ? { authorization: `Bearer ${key}` } : {} });
    health = (await res.json()) as Health;
  } catch (err) {
    root.replaceChildren(item('clipyard', `unreachable (${String(err)})`, 'bad'));
    return;
  }
  const r = health.components.runner;
  const q = health.queue;
  const items = [
    item(
      'runner',
      r.reachable === null
        ? `container: ${r.state ?? 'unknown'}`
        : r.reachable
          ? 'reachable'
          : `unreachable${r.error ? `: ${r.error}` : ''}`,
      r.reachable === null ? (r.state === 'failing' ? 'bad' : 'ok') : r.reachable ? 'ok' : 'bad',
    ),
    item('active jobs', r.activeJobs == null ? '–' : `${r.activeJobs}${r.capacity ? ` of ${r.capacity}` : ''}`),
    item('ffmpeg', r.ffmpeg ?? '–'),
    item('storage', health.components.storage.ok ? 'ok' : 'failing', health.components.storage.ok ? 'ok' : 'bad'),
  ];
  if (q) {
    for (const [name, label] of [
      ['queued', 'queued'],
      ['running', 'running'],
      ['retrying', 'retrying'],
      ['stalled', 'stalled'],
      ['failed', 'failed'],
      ['succeeded', 'done'],
    ] as const) {
      const n = q[name] ?? 0;
      items.push(item(label, String(n), name === 'stalled' && n > 0 ? 'bad' : ''));
    }
  }
  root.replaceChildren(...items);
  root.dataset.runner = r.reachable ? 'reachable' : 'unreachable';
}
