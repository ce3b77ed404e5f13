/**
 * One task on the page: overall and per-step progress bars, the state in plain words, stage, speed,
 * ETA and the latest message, the connection state, the failure reason with a Retry button, and
 * the outputs when done. Built once and updated in place, so streaming progress never shifts layout.
 */
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import { type Bar, h, progressBar, setAttr, setText, show } from './dom.ts';
import { EtaSmoother } from './eta.ts';
import { formatAgo, formatBytes, formatDuration, formatSpeed, sourceName, stateWords } from './format.ts';
import { renderOutputs } from './outputs.ts';
import type { TaskView } from './task-model.ts';
import type { ConnectionState } from './task-stream.ts';
import { TimelinePanel } from './timeline.ts';

export type CardAction = 'cancel' | 'retry' | 'delete' | 'dismiss';

/** How often a card redraws between events (the creeping bar, the ETA, "retrying in N s"). */
const TICK_MS = 250;

function stepLabel(s: TaskSnapshot['steps'][number]): string {
  const opts = Object.entries(s.params)
    // nested options (render's images, a contact sheet) are summarized, not printed as objects
    .filter(([k, v]) => k !== 'op' && v !== null && v !== undefined)
    .map(([k, v]) =>
      Array.isArray(v)
        ? `${v.length} ${k}`
        : typeof v === 'object'
          ? k
          : k === 'height'
            ? `${v}p`
            : k === 'format'
              ? String(v)
              : `${k} ${v}`,
    );
  return [s.op, ...opts].join(' ');
}

export class TaskCard {
  readonly el: HTMLElement;
  private readonly title: HTMLAnchorElement;
  private readonly meta: HTMLElement;
  private readonly state: HTMLElement;
  private readonly bar: Bar;
  private readonly pct: HTMLElement;
  private readonly stage: HTMLElement;
  private readonly speed: HTMLElement;
  private readonly eta: HTMLElement;
  private readonly bytes: HTMLElement;
  private readonly detail: HTMLElement;
  private readonly message: HTMLElement;
  private readonly steps: HTMLOListElement;
  private stepBars: { bar: Bar; pct: HTMLElement; state: HTMLElement }[] = [];
  private readonly conn: HTMLElement;
  private readonly error: HTMLElement;
  private readonly outputs: HTMLElement;
  private outputsKey = '';
  private readonly buttons: Record<CardAction, HTMLButtonElement>;
  private readonly log: HTMLOListElement;
  private readonly timeline: TimelinePanel;
  private logKey = '';
  private view: TaskView | null = null;
  private readonly timing = new EtaSmoother();
  private readonly ticker: ReturnType<typeof setInterval>;

  constructor(id: string, onAction: (action: CardAction, id: string, card: TaskCard) => void) {
    this.title = h('a', { class: 'task-name', href: `#task=${id}` });
    this.meta = h('span', { class: 'task-meta' });
    this.state = h('span', { class: 'state', role: 'status', 'aria-live': 'polite' });
    this.bar = progressBar('overall progress');
    this.pct = h('span', { class: 'pct', text: '0%' });
    this.stage = h('span', { class: 'stage' });
    this.speed = h('span', { class: 'speed' });
    this.eta = h('span', { class: 'eta' });
    this.bytes = h('span', { class: 'bytes' });
    this.detail = h('p', { class: 'task-detail' }, this.stage, this.speed, this.eta, this.bytes);
    this.message = h('p', { class: 'task-message' });
    this.steps = h('ol', { class: 'steps', 'aria-label': 'steps' });
    this.conn = h('p', { class: 'conn', role: 'status', hidden: true });
    this.error = h('div', { class: 'error', role: 'alert', hidden: true });
    this.outputs = h('div', { class: 'outputs-wrap' });
    const button = (action: CardAction, text: string, cls = '') => {
      const b = h('button', { type: 'button', class: cls, 'data-action': action, text });
      b.addEventListener('click', () => onAction(action, id, this));
      return b;
    };
    this.buttons = {
      cancel: button('cancel', 'Cancel', 'ghost'),
      retry: button('retry', 'Retry', 'primary'),
      delete: button('delete', 'Delete', 'ghost danger'),
      dismiss: button('dismiss', 'Hide', 'ghost'),
    };
    this.log = h('ol', { class: 'log' });
    this.timeline = new TimelinePanel(id);
    this.el = h(
      'article',
      { class: 'task', 'data-id': id, 'aria-label': `task ${id}` },
      h('header', { class: 'task-head' }, h('div', { class: 'task-title' }, this.title, this.meta), this.state),
      h('div', { class: 'progress-row' }, this.bar.el, this.pct),
      this.detail,
      this.message,
      this.steps,
      this.conn,
      this.error,
      this.outputs,
      h(
        'div',
        { class: 'actions' },
        this.buttons.retry,
        this.buttons.cancel,
        this.buttons.delete,
        this.buttons.dismiss,
      ),
      h('details', { class: 'activity' }, h('summary', { text: 'Activity' }), this.log),
      this.timeline.el,
    );
    // "retrying in N s" and "2 min ago" count between events; a running bar creeps on and its ETA counts down.
    this.ticker = setInterval(() => {
      if (!this.view) return;
      this.renderState(this.view.snap);
      this.renderTiming(this.view);
    }, TICK_MS);
  }

  destroy(): void {
    clearInterval(this.ticker);
    this.el.remove();
  }

  setBusy(action: CardAction, busy: boolean): void {
    this.buttons[action].disabled = busy;
    setAttr(this.buttons[action], 'aria-busy', busy ? 'true' : null);
  }

  confirmDelete(): boolean {
    const b = this.buttons.delete;
    if (b.dataset.confirm === '1') return true;
    b.dataset.confirm = '1';
    setText(b, 'Really delete?');
    setTimeout(() => {
      delete b.dataset.confirm;
      setText(b, 'Delete');
    }, 4_000);
    return false;
  }

  connection(state: ConnectionState, detail: string, reconnects: number): void {
    setAttr(this.el, 'data-connection', state);
    setAttr(this.el, 'data-reconnects', String(reconnects));
    if (this.view) this.renderTiming(this.view);
    if (state === 'reconnecting' || state === 'gone') {
      setText(this.conn, detail || 'connection lost; reconnecting…');
      show(this.conn, true);
    } else if (state === 'live' && reconnects > 0) {
      setText(this.conn, 'reconnected; caught up on everything missed');
      show(this.conn, true);
    } else {
      show(this.conn, false);
    }
  }

  private renderState(s: TaskSnapshot): void {
    setText(this.state, stateWords(s));
    setText(this.meta, `${s.steps.map((st) => st.op).join(' → ')} · ${formatAgo(s.createdAt)}`);
  }

  render(view: TaskView): void {
    this.view = view;
    const s = view.snap;
    setAttr(this.el, 'data-status', s.status);
    setAttr(this.el, 'data-seq', String(view.lastSeq));
    setText(this.title, sourceName(s.input, s.label));
    setAttr(this.title, 'title', 'url' in s.input ? s.input.url : s.id);
    this.state.className = `state state-${s.status}`;
    this.renderState(s);
    const running = s.status === 'running';
    this.timing.update(Date.now(), s.progress, s.attempt, running, view.live.eta);
    setText(this.pct, `${Math.floor(s.progress)}%`);
    const terminal = s.status === 'succeeded' || s.status === 'failed' || s.status === 'canceled';
    // The detail line keeps its place while a task is live and goes away once it has ended.
    show(this.detail, !terminal);
    setText(this.stage, running && s.stage ? s.stage : '');
    setText(this.speed, running ? formatSpeed(view.live) : '');
    this.renderTiming(view);
    const { bytes, totalBytes } = view.live;
    setText(
      this.bytes,
      running && bytes != null ? `${formatBytes(bytes)}${totalBytes ? ` of ${formatBytes(totalBytes)}` : ''}` : '',
    );
    setText(this.message, s.status === 'failed' ? '' : s.message);
    setAttr(this.message, 'title', s.message);
    this.renderSteps(s);
    this.renderError(s);
    this.renderOutputs(s);
    this.renderLog(view);
    this.timeline.render(s, view.log);
    show(this.buttons.cancel, !terminal);
    show(this.buttons.retry, s.status === 'failed' || s.status === 'canceled');
    this.buttons.retry.disabled = false;
  }

  /** The bar (creeping on between events) and the smoothed ETA, or "estimating" until it is steady. */
  private renderTiming(view: TaskView): void {
    const s = view.snap;
    const now = Date.now();
    // A card that lost its connection stands still: no creeping bar, no countdown of a stale ETA.
    const stale = this.el.dataset.connection === 'reconnecting';
    if (!stale) this.bar.set(s.progress, this.timing.barValue(now, s.progress));
    const running = s.status === 'running' && s.stage !== 'starting' && !stale;
    const eta = this.timing.eta(now);
    setText(this.eta, running ? (eta === null ? 'estimating time left…' : `${formatDuration(eta)} left`) : '');
  }

  private renderSteps(s: TaskSnapshot): void {
    if (this.stepBars.length !== s.steps.length) {
      this.steps.replaceChildren();
      this.stepBars = s.steps.map((st) => {
        const bar = progressBar(`step ${st.index + 1}: ${st.op}`, true);
        const pct = h('span', { class: 'pct' });
        const state = h('span', { class: 'step-state' });
        this.steps.append(
          h('li', { class: 'step' }, h('span', { class: 'step-name', text: stepLabel(st) }), bar.el, pct, state),
        );
        return { bar, pct, state };
      });
    }
    s.steps.forEach((st, i) => {
      const row = this.stepBars[i]!;
      row.bar.set(st.progress);
      setText(row.pct, `${Math.floor(st.progress)}%`);
      setText(row.state, st.status === 'succeeded' ? 'done' : st.status);
    });
    show(this.steps, s.steps.length > 1);
  }

  private renderError(s: TaskSnapshot): void {
    const err = s.error;
    const visible = (s.status === 'failed' || s.status === 'retrying') && err !== null;
    show(this.error, visible);
    if (!visible || !err) return;
    const key = `${s.status}|${err.code}|${err.message}`;
    if (this.error.dataset.key === key) return;
    this.error.dataset.key = key;
    const lead = s.status === 'failed' ? 'Failed: ' : 'Attempt failed: ';
    const hint = s.status === 'failed' && !err.retryable ? ' Retrying will likely fail the same way.' : '';
    this.error.replaceChildren(
      h('strong', { class: 'reason', text: `${lead}${err.message}` }),
      h('code', { class: 'code', text: err.code }),
    );
    if (hint) this.error.append(h('span', { class: 'hint', text: hint }));
  }

  private renderOutputs(s: TaskSnapshot): void {
    const key = s.outputs.map((o) => `${o.name}:${o.size}:${o.url ?? ''}`).join('|');
    if (key === this.outputsKey) return;
    this.outputsKey = key;
    this.outputs.replaceChildren(s.outputs.length ? renderOutputs(s.outputs) : '');
  }

  private renderLog(view: TaskView): void {
    const last = view.log.at(-1);
    const key = `${view.log.length}:${last?.at}:${last?.text}`;
    if (key === this.logKey) return;
    this.logKey = key;
    this.log.replaceChildren(
      ...view.log.map((l) =>
        h('li', { class: `log-${l.level}` }, h('time', { text: new Date(l.at).toLocaleTimeString() }), ` ${l.text}`),
      ),
    );
  }
}
