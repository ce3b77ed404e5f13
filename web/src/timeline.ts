/**
 * A task's run timeline on its card (like a trace view): per attempt, a bar for each wait (queued, a
 * retry's backoff), each step and each stage inside a step, placed on one time axis, with durations;
 * under each step the log lines that fell within it; the request body as the API accepted it; and
 * each webhook delivery with its attempts (time, status, latency, error).
 *
 * Drawn from the snapshot (`timeline`, `request`, `webhooks`) and the card's log lines; open spans
 * (a step still running) reach to now. Opening the panel fetches a fresh snapshot, since webhook
 * attempts go on after the task (and its event stream) has ended. Used by task-card.ts, which
 * appends `el` and calls `render`.
 */
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import type { TimelineAttempt, TimelineSpan } from '../../src/protocol/timeline.ts';
import type { WebhookDelivery } from '../../src/protocol/webhook.ts';
import { getTask } from './api.ts';
import { h, setText, show } from './dom.ts';
import type { TaskView } from './task-model.ts';

/** "0.42 s", "12.3 s", "3 min 4 s": precise enough to compare bars by eye. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 10_000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return s < 3600
    ? `${Math.floor(s / 60)} min ${s % 60} s`
    : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

type Line = TaskView['log'][number];

interface Axis {
  start: number;
  end: number;
}

function endOf(span: { endedAt: number | null }, now: number): number {
  return span.endedAt ?? now;
}

function bar(kind: string, name: string, start: number, end: number, axis: Axis, extra: Record<string, string> = {}) {
  const total = Math.max(1, axis.end - axis.start);
  const left = ((start - axis.start) / total) * 100;
  const width = Math.max(0.5, ((end - start) / total) * 100);
  const ms = Math.max(0, end - start);
  return h(
    'div',
    { class: `tl-row tl-${kind}`, 'data-kind': kind, 'data-name': name, 'data-duration-ms': String(ms), ...extra },
    h('span', { class: 'tl-label', text: name }),
    h(
      'span',
      { class: 'tl-track' },
      h('span', { class: 'tl-bar', style: `left:${left.toFixed(2)}%;width:${width.toFixed(2)}%` }),
    ),
    h('span', { class: 'tl-dur', text: formatMs(ms) }),
  );
}

function attemptBlock(a: TimelineAttempt, log: readonly Line[], now: number): HTMLElement {
  const starts = [...a.waits.map((w) => w.startedAt), a.startedAt ?? now];
  const ends = [...a.waits.map((w) => endOf(w, now)), a.endedAt ?? now];
  const axis = { start: Math.min(...starts), end: Math.max(...ends) };
  const ran = a.startedAt !== null ? (a.endedAt ?? now) - a.startedAt : 0;
  const waited = a.waits.reduce((sum, w) => sum + (endOf(w, now) - w.startedAt), 0);
  const head = h('p', {
    class: 'tl-head',
    text: `Attempt ${a.attempt}${a.outcome ? ` · ${a.outcome}` : a.startedAt ? ' · running' : ''} · ran ${formatMs(ran)}${waited > 0 ? ` (waited ${formatMs(waited)})` : ''}`,
  });
  const rows: HTMLElement[] = a.waits.map((w: TimelineSpan) => bar('wait', w.name, w.startedAt, endOf(w, now), axis));
  for (const s of a.steps) {
    const end = endOf(s, now);
    rows.push(
      bar('step', `${s.index + 1}. ${s.op}`, s.startedAt, end, axis, {
        'data-step': String(s.index),
        'data-outcome': s.outcome ?? 'running',
      }),
    );
    for (const st of s.stages) rows.push(bar('stage', st.name, st.startedAt, endOf(st, now), axis));
    const lines = log.filter((l) => l.at >= s.startedAt && l.at <= end);
    if (lines.length > 0) {
      rows.push(
        h(
          'details',
          { class: 'tl-log' },
          h('summary', { text: `log (${lines.length})` }),
          h(
            'ol',
            { class: 'log' },
            ...lines.map((l) =>
              h(
                'li',
                { class: `log-${l.level}` },
                h('time', { text: new Date(l.at).toLocaleTimeString() }),
                ` ${l.text}`,
              ),
            ),
          ),
        ),
      );
    }
  }
  return h(
    'section',
    { class: 'tl-attempt', 'data-attempt': String(a.attempt), 'data-ran-ms': String(ran) },
    head,
    ...rows,
  );
}

function deliveriesBlock(ds: readonly WebhookDelivery[]): HTMLElement {
  return h(
    'section',
    { class: 'tl-webhooks' },
    h('p', { class: 'tl-head', text: 'Webhooks' }),
    ...ds.map((d) =>
      h(
        'div',
        { class: 'tl-delivery', 'data-state': d.state },
        h('p', { text: `${d.event} → ${d.url} · ${d.state}`, title: `webhook-id ${d.id}` }),
        h(
          'ol',
          { class: 'log' },
          ...d.attempts.map((x) =>
            h(
              'li',
              { class: x.error ? 'log-warn' : 'log-info' },
              h('time', { text: new Date(x.at).toLocaleTimeString() }),
              ` #${x.n} ${x.status ?? 'no answer'} in ${x.latencyMs} ms${x.error ? ` · ${x.error.message}` : ''}`,
            ),
          ),
          d.nextAttemptAt
            ? h('li', { class: 'log-info', text: `next attempt ${new Date(d.nextAttemptAt).toLocaleTimeString()}` })
            : null,
        ),
      ),
    ),
  );
}

export class TimelinePanel {
  readonly el: HTMLDetailsElement;
  private readonly summary: HTMLElement;
  private readonly body: HTMLElement;
  private readonly request: HTMLPreElement;
  private key = '';
  private log: readonly Line[] = [];

  constructor(id: string) {
    this.summary = h('summary', { text: 'Timeline' });
    this.body = h('div', { class: 'tl-body' });
    this.request = h('pre', { class: 'tl-request' });
    this.el = h(
      'details',
      { class: 'timeline' },
      this.summary,
      this.body,
      h('details', { class: 'tl-raw' }, h('summary', { text: 'Request' }), this.request),
    );
    this.el.addEventListener('toggle', () => {
      if (!this.el.open) return;
      getTask(id).then(
        (s) => this.render(s, this.log),
        () => {},
      );
    });
  }

  render(s: TaskSnapshot, log: readonly Line[]): void {
    this.log = log;
    const attempts = s.timeline ?? [];
    show(this.el, attempts.length > 0 || s.request !== undefined);
    const open = attempts.some((a) => a.endedAt === null);
    const key = JSON.stringify([attempts, s.webhooks, log.length, open ? Math.floor(Date.now() / 1000) : 0]);
    if (key === this.key) return;
    this.key = key;
    const now = Date.now();
    const last = attempts.at(-1);
    const wall = last?.startedAt != null ? formatMs((last.endedAt ?? now) - s.createdAt) : '';
    setText(this.summary, wall ? `Timeline · ${wall}` : 'Timeline');
    this.body.replaceChildren(
      ...attempts.map((a) => attemptBlock(a, log, now)),
      ...(s.webhooks && s.webhooks.length > 0 ? [deliveriesBlock(s.webhooks)] : []),
    );
    setText(this.request, s.request === undefined ? '' : JSON.stringify(s.request, null, 2));
  }
}
