/**
 * The dashboard: the tenant's tasks (filter by status, search by URL, bulk retry/cancel/delete, how
 * long each took; a page at a time, "Show more" for older ones), refreshed every few seconds while it is open; a health panel (runner, active jobs, queue counts, stalled);
 * and a small chart of tasks finished per 5 minutes over the last hour.
 */
import type { TaskListEntry, TaskStatus } from '../../src/protocol/task.ts';
import { ApiError, cancelTask, deleteTask, request, retryTask } from './api.ts';
import { $, h, progressBar, setAttr, setText, show } from './dom.ts';
import { formatAgo, STATUS_LABELS, sourceName } from './format.ts';
import { renderHealth } from './health.ts';
import { renderThroughput } from './throughput.ts';
import { formatMs } from './timeline.ts';

/** What GET /api/tasks lists for each task. */
export type TaskEntry = TaskListEntry;

const LIST_REFRESH_MS = 2_000;
/** The most GET /api/tasks answers in one page; longer lists follow its cursor. */
const MAX_PAGE = 200;
const PAGE_SIZE_KEY = 'clipyard.pageSize';
const HEALTH_REFRESH_MS = 5_000;
const TERMINAL: ReadonlySet<TaskStatus> = new Set(['succeeded', 'failed', 'canceled']);

interface Row {
  el: HTMLTableRowElement;
  check: HTMLInputElement;
  status: HTMLElement;
  bar: ReturnType<typeof progressBar>;
  message: HTMLElement;
  when: HTMLElement;
  took: HTMLElement;
  entry: TaskEntry;
}

export class Dashboard {
  private readonly body = $('#task-rows');
  private readonly empty = $('#tasks-empty');
  private readonly statusFilter = $('#filter-status') as HTMLSelectElement;
  private readonly search = $('#filter-q') as HTMLInputElement;
  private readonly selectAll = $('#select-all') as HTMLInputElement;
  private readonly bulkStatus = $('#bulk-status');
  private readonly listError = $('#list-error');
  private readonly pageSize = $('#page-size') as HTMLSelectElement;
  private readonly more = $('#tasks-more') as HTMLButtonElement;
  private readonly count = $('#tasks-count');
  /** How many rows the list shows: a page, plus a page per "Show more", for the filters in `shownFor`. */
  private shown = 100;
  private shownFor = '';
  private rows = new Map<string, Row>();
  private timers: ReturnType<typeof setInterval>[] = [];
  private searchTimer: ReturnType<typeof setTimeout> | null = null;
  private loading = false;
  private generation = 0;

  private readonly onAuthNeeded: () => void;

  constructor(onAuthNeeded: () => void) {
    this.onAuthNeeded = onAuthNeeded;
    const saved = localStorage.getItem(PAGE_SIZE_KEY);
    if (saved && [...this.pageSize.options].some((o) => o.value === saved)) this.pageSize.value = saved;
    this.pageSize.addEventListener('change', () => {
      localStorage.setItem(PAGE_SIZE_KEY, this.pageSize.value);
      void this.refreshList(true);
    });
    this.more.addEventListener('click', () => {
      this.shown += Number(this.pageSize.value);
      void this.refreshList(true);
    });
    this.statusFilter.addEventListener('change', () => void this.refreshList(true));
    this.search.addEventListener('input', () => {
      if (this.searchTimer) clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => void this.refreshList(true), 250);
    });
    this.selectAll.addEventListener('change', () => {
      for (const r of this.rows.values()) r.check.checked = this.selectAll.checked;
      this.syncBulk();
    });
    $('#bulk-retry').addEventListener('click', () => void this.bulk('retry'));
    $('#bulk-cancel').addEventListener('click', () => void this.bulk('cancel'));
    $('#bulk-delete').addEventListener('click', () => void this.bulkDelete());
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && this.timers.length > 0) void this.refreshList(false);
    });
  }

  /** Start refreshing (the view is shown). */
  open(): void {
    this.close();
    void this.refreshList(false);
    void this.refreshHealth();
    this.timers.push(setInterval(() => void this.refreshList(false), LIST_REFRESH_MS));
    this.timers.push(setInterval(() => void this.refreshHealth(), HEALTH_REFRESH_MS));
  }

  /** Stop refreshing (another view is shown). */
  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private query(limit: number, cursor: string | null): string {
    const params = new URLSearchParams({ limit: String(limit) });
    if (this.statusFilter.value) params.set('status', this.statusFilter.value);
    const q = this.search.value.trim();
    if (q) params.set('q', q);
    if (cursor) params.set('cursor', cursor);
    return params.toString();
  }

  /** The newest `shown` tasks matching the filters (several pages when that is more than one holds). */
  private async fetchRows(): Promise<{ tasks: TaskEntry[]; more: boolean }> {
    const tasks: TaskEntry[] = [];
    let cursor: string | null = null;
    do {
      const limit = Math.min(MAX_PAGE, this.shown - tasks.length);
      const page: { tasks: TaskEntry[]; cursor: string | null } = await request(
        `/api/tasks?${this.query(limit, cursor)}`,
      );
      tasks.push(...page.tasks);
      cursor = page.cursor;
    } while (cursor && tasks.length < this.shown);
    return { tasks, more: cursor !== null };
  }

  /**
   * Reload the list. A user's action (`force`) refreshes at once, even while a refresh is under way
   * (its answer then wins); the timer's refresh skips a busy or background tab.
   */
  async refreshList(force: boolean): Promise<void> {
    // A background tab does not poll; it catches up when shown again (visibilitychange).
    if (!force && (document.hidden || this.loading)) return;
    // Other filters or page size start again at one page; the same ones (a late search keystroke's
    // refresh after "Show more") keep what was shown.
    const filters = `${this.statusFilter.value}\n${this.search.value.trim()}\n${this.pageSize.value}`;
    if (filters !== this.shownFor) {
      this.shownFor = filters;
      this.shown = Number(this.pageSize.value);
    }
    this.loading = true;
    const generation = ++this.generation;
    try {
      const { tasks, more } = await this.fetchRows();
      if (generation !== this.generation) return;
      this.renderRows(tasks);
      show(this.more, more);
      setText(this.count, tasks.length > 0 ? `${tasks.length}${more ? '+' : ''} shown` : '');
      show(this.listError, false);
    } catch (err) {
      if (generation !== this.generation) return;
      setText(this.listError, `Could not load tasks: ${err instanceof Error ? err.message : String(err)}`);
      show(this.listError, true);
      if (err instanceof ApiError && err.status === 401) this.onAuthNeeded();
    } finally {
      if (generation === this.generation) this.loading = false;
    }
  }

  private async refreshHealth(): Promise<void> {
    if (document.hidden) return;
    await renderHealth($('#health'));
    try {
      const all = await request<{ tasks: TaskEntry[] }>('/api/tasks?limit=200');
      renderThroughput($('#throughput'), all.tasks);
    } catch {
      /* the list shows the error */
    }
  }

  private renderRows(tasks: TaskEntry[]): void {
    const keep = new Set(tasks.map((t) => t.id));
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        row.el.remove();
        this.rows.delete(id);
      }
    }
    let previous: HTMLTableRowElement | null = null;
    for (const t of tasks) {
      const row = this.rows.get(t.id) ?? this.newRow(t);
      this.updateRow(row, t);
      const expected: Element | null = previous ? previous.nextElementSibling : this.body.firstElementChild;
      if (expected !== row.el) {
        if (previous) previous.after(row.el);
        else this.body.prepend(row.el);
      }
      previous = row.el;
    }
    show(this.empty, tasks.length === 0);
    this.syncBulk();
  }

  private newRow(t: TaskEntry): Row {
    const check = h('input', { type: 'checkbox', 'aria-label': `select ${sourceName(t.source, t.label)}` });
    check.addEventListener('change', () => this.syncBulk());
    const status = h('span', { class: 'state' });
    const bar = progressBar(`progress of ${t.id}`, true);
    const message = h('span', { class: 'row-message' });
    const when = h('time', {});
    const took = h('span', { class: 'took' });
    const el = h(
      'tr',
      { 'data-id': t.id },
      // data-label: on a phone each row is a card and every cell says which column it is.
      h('td', { 'data-label': 'Select' }, check),
      h(
        'td',
        { class: 'source', 'data-label': 'Source' },
        h('a', { href: `#task=${t.id}`, title: t.source, text: sourceName(t.source, t.label) }),
      ),
      h('td', { class: 'ops', 'data-label': 'Steps' }, h('span', { text: t.ops })),
      h('td', { 'data-label': 'State' }, status),
      h('td', { class: 'row-progress', 'data-label': 'Progress' }, bar.el),
      h('td', { class: 'message-cell', 'data-label': 'Message' }, message),
      h('td', { class: 'when', 'data-label': 'Created' }, when, took),
    );
    const row: Row = { el, check, status, bar, message, when, took, entry: t };
    this.rows.set(t.id, row);
    return row;
  }

  private updateRow(row: Row, t: TaskEntry): void {
    row.entry = t;
    setAttr(row.el, 'data-status', t.status);
    row.status.className = `state state-${t.status}`;
    setText(row.status, STATUS_LABELS[t.status]);
    row.bar.set(t.progress);
    setText(row.message, t.message);
    setAttr(row.message, 'title', t.message);
    setText(row.when, formatAgo(t.createdAt));
    setAttr(row.when, 'datetime', new Date(t.createdAt).toISOString());
    // how long it took (created to ended), or has taken so far
    const ms = (TERMINAL.has(t.status) ? t.updatedAt : Date.now()) - t.createdAt;
    setText(row.took, ms >= 0 ? ` · ${TERMINAL.has(t.status) ? 'took' : 'for'} ${formatMs(ms)}` : '');
    setAttr(row.took, 'data-ms', String(ms));
  }

  private selected(): TaskEntry[] {
    return [...this.rows.values()].filter((r) => r.check.checked).map((r) => r.entry);
  }

  private syncBulk(): void {
    const sel = this.selected();
    ($('#bulk-retry') as HTMLButtonElement).disabled = !sel.some(
      (t) => t.status === 'failed' || t.status === 'canceled',
    );
    ($('#bulk-cancel') as HTMLButtonElement).disabled = !sel.some((t) => !TERMINAL.has(t.status));
    const del = $('#bulk-delete') as HTMLButtonElement;
    del.disabled = sel.length === 0;
    if (sel.length === 0 || del.dataset.confirm !== String(sel.length)) {
      delete del.dataset.confirm;
      setText(del, 'Delete selected');
    }
    this.selectAll.checked = sel.length > 0 && sel.length === this.rows.size;
  }

  /** Delete the selected tasks (outputs and links too); the first click asks to confirm. */
  private async bulkDelete(): Promise<void> {
    const del = $('#bulk-delete') as HTMLButtonElement;
    const targets = this.selected();
    if (targets.length === 0) return;
    if (del.dataset.confirm !== String(targets.length)) {
      del.dataset.confirm = String(targets.length);
      setText(del, `Really delete ${targets.length}?`);
      return;
    }
    delete del.dataset.confirm;
    setText(del, 'Delete selected');
    const results = await Promise.allSettled(targets.map((t) => deleteTask(t.id)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    setText(this.bulkStatus, `${targets.length - failed} deleted${failed ? `, ${failed} refused` : ''}`);
    for (const t of targets) {
      this.rows.get(t.id)?.el.remove();
      this.rows.delete(t.id);
    }
    await this.refreshList(true);
  }

  private async bulk(action: 'retry' | 'cancel'): Promise<void> {
    const targets = this.selected().filter((t) =>
      action === 'retry' ? t.status === 'failed' || t.status === 'canceled' : !TERMINAL.has(t.status),
    );
    const results = await Promise.allSettled(targets.map((t) => (action === 'retry' ? retryTask : cancelTask)(t.id)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    const verb = action === 'retry' ? 'retried' : 'canceled';
    setText(this.bulkStatus, `${targets.length - failed} ${verb}${failed ? `, ${failed} refused` : ''}`);
    for (const r of this.rows.values()) r.check.checked = false;
    await this.refreshList(true);
  }
}
