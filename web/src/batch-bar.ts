/**
 * A batch on the page: several links submitted together become one batch (POST /api/batches), shown
 * as a summary above their task cards with the aggregate progress, counts by state and, once every
 * task has ended, a "Download all" link to the batch's zip archive. The task cards stay live on their
 * own sockets; the summary polls the batch, which is cheap and needs nothing more.
 */
import type { BatchSnapshot } from '../../src/protocol/batch.ts';
import { apiKey, request } from './api.ts';
import { type Bar, h, progressBar, setAttr, setText, show } from './dom.ts';

const POLL_MS = 1_000;

export function archiveUrl(id: string): string {
  const url = new URL(`/api/batches/${encodeURIComponent(id)}/archive`, location.href);
  // A link cannot carry an Authorization header; the API accepts the key as a parameter too.
  const key = apiKey();
  if (key) url.searchParams.set('key', key);
  return url.pathname + url.search;
}

export class BatchBar {
  readonly el: HTMLElement;
  private readonly id: string;
  private readonly bar: Bar;
  private readonly pct: HTMLElement;
  private readonly counts: HTMLElement;
  private readonly archive: HTMLAnchorElement;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(snap: BatchSnapshot, onDismiss: (bar: BatchBar) => void) {
    this.id = snap.id;
    this.bar = progressBar('batch progress');
    this.pct = h('span', { class: 'pct' });
    this.counts = h('span', { class: 'batch-counts', role: 'status' });
    this.archive = h('a', { class: 'button', href: archiveUrl(snap.id), download: '', text: 'Download all (zip)' });
    const dismiss = h('button', { type: 'button', class: 'ghost', text: 'Hide' });
    dismiss.addEventListener('click', () => onDismiss(this));
    this.el = h(
      'section',
      { class: 'batch', 'data-id': snap.id, 'aria-label': `batch of ${snap.total}` },
      h('div', { class: 'batch-head' }, h('strong', { text: snap.label ?? `Batch of ${snap.total}` }), this.counts),
      h('div', { class: 'progress-row' }, this.bar.el, this.pct),
      h('div', { class: 'actions' }, this.archive, dismiss),
    );
    this.render(snap);
  }

  start(): void {
    this.timer = setTimeout(() => void this.poll(), POLL_MS);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.el.remove();
  }

  private async poll(): Promise<void> {
    this.timer = null;
    try {
      const snap = await request<BatchSnapshot>(`/api/batches/${encodeURIComponent(this.id)}`);
      this.render(snap);
      if (snap.status === 'running') this.timer = setTimeout(() => void this.poll(), POLL_MS);
    } catch {
      this.timer = setTimeout(() => void this.poll(), POLL_MS * 5);
    }
  }

  private render(b: BatchSnapshot): void {
    setAttr(this.el, 'data-status', b.status);
    this.bar.set(b.progress);
    setText(this.pct, `${Math.floor(b.progress)}%`);
    const c = b.counts;
    const parts = [
      c.succeeded ? `${c.succeeded} done` : '',
      c.failed ? `${c.failed} failed` : '',
      c.canceled ? `${c.canceled} canceled` : '',
      c.running + c.retrying ? `${c.running + c.retrying} running` : '',
      c.queued ? `${c.queued} queued` : '',
    ].filter(Boolean);
    setText(this.counts, `${parts.join(' · ')} of ${b.total}`);
    show(this.archive, b.status !== 'running' && c.succeeded > 0);
  }
}
