/**
 * "Your tasks" on the main view: the tasks started from this browser (their ids kept in
 * localStorage), each a live card over its own subscription. A `#task=<id>` link shows that task alone,
 * highlighted (adding it when it is not one of them), or says it was not found.
 */
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import { ApiError, cancelTask, deleteTask, getTask, retryTask } from './api.ts';
import { $, setAttr, setText, show } from './dom.ts';
import { loadIds, saveIds } from './remembered-ids.ts';
import { type CardAction, TaskCard } from './task-card.ts';
import { TaskStream } from './task-stream.ts';

const STORAGE = 'clipyard.myTasks';
const TASK_ID = /^[a-z2-7]{20}$/;
const MAX_KEPT = 30;

interface Entry {
  card: TaskCard;
  stream: TaskStream;
}

export class MyTasks {
  private readonly list = $('#task-list');
  private readonly empty = $('#task-list-empty');
  private readonly notice = $('#notice');
  private readonly batches = $('#batch-list');
  private readonly focusBar = $('#focus-bar');
  private readonly focusText = $('#focus-text');
  /** the task a `#task=<id>` link isolates, if any */
  private focused: string | null = null;
  readonly entries = new Map<string, Entry>();

  private readonly onAuthNeeded: () => void;

  constructor(onAuthNeeded: () => void) {
    this.onAuthNeeded = onAuthNeeded;
    window.addEventListener('online', () => {
      for (const e of this.entries.values()) e.stream.reconnectNow();
    });
    window.addEventListener('offline', () => {
      for (const e of this.entries.values()) e.stream.offline();
    });
  }

  /** Load the remembered tasks (oldest first, so the newest ends on top). */
  async restore(): Promise<void> {
    const ids = loadIds(STORAGE, MAX_KEPT);
    const snaps = await Promise.all(
      ids.map((id) =>
        getTask(id).catch((err: unknown) => {
          if (err instanceof ApiError && err.status === 401) this.onAuthNeeded();
          return null;
        }),
      ),
    );
    for (const snap of snaps) if (snap && !this.entries.has(snap.id)) this.mount(snap, true);
    this.syncEmpty();
  }

  private save(): void {
    saveIds(STORAGE, MAX_KEPT, this.list, 'article.task');
  }

  private syncEmpty(): void {
    show(this.empty, this.entries.size === 0 && this.focused === null);
  }

  private say(text: string): void {
    setText(this.notice, text);
    show(this.notice, text.length > 0);
  }

  /** Show a task that was just created (its snapshot came with the 202). */
  add(snap: TaskSnapshot): void {
    if (this.entries.has(snap.id)) return;
    // A new task from the form: show it among all the others.
    if (this.focused !== null) location.hash = '#new';
    this.mount(snap, false);
    this.save();
  }

  /**
   * Show one task alone (a `#task=<id>` link): its card, highlighted, and nothing else but a way
   * back to all of them. An id the server does not know says "not found".
   */
  async focus(id: string): Promise<void> {
    this.focused = id;
    this.list.dataset.focus = id;
    show(this.batches, false);
    show(this.empty, false);
    for (const [other, e] of this.entries) setAttr(e.card.el, 'data-focused', other === id ? 'true' : null);
    this.sayFocus(`Showing task ${id}.`);
    if (!this.entries.has(id)) {
      try {
        const snap = TASK_ID.test(id) ? await getTask(id) : null;
        if (!snap) throw new ApiError(404, null, 'not found');
        if (this.focused !== id) return;
        if (!this.entries.has(id)) {
          this.mount(snap, false);
          this.save();
        }
        setAttr(this.entries.get(id)!.card.el, 'data-focused', 'true');
      } catch (err) {
        if (this.focused !== id) return;
        if (err instanceof ApiError && err.status === 401) this.onAuthNeeded();
        const why =
          err instanceof ApiError && err.status === 404
            ? 'not found: it may have been deleted, or it belongs to another API key'
            : err instanceof Error
              ? err.message
              : String(err);
        this.sayFocus(`Task ${id} ${why}.`, true);
        return;
      }
    }
    this.entries.get(id)?.card.el.scrollIntoView({ block: 'nearest' });
  }

  /** Back to every task (the hash no longer names one). */
  unfocus(): void {
    if (this.focused === null) return;
    this.focused = null;
    delete this.list.dataset.focus;
    for (const e of this.entries.values()) setAttr(e.card.el, 'data-focused', null);
    show(this.batches, true);
    show(this.focusBar, false);
    this.syncEmpty();
  }

  private sayFocus(text: string, missing = false): void {
    setText(this.focusText, text);
    setAttr(this.focusBar, 'data-missing', missing ? 'true' : null);
    show(this.focusBar, true);
  }

  private mount(snap: TaskSnapshot, append: boolean): void {
    const card = new TaskCard(snap.id, (action, id, c) => void this.act(action, id, c));
    const stream = TaskStream.forSnapshot(snap, {
      view: (view) => card.render(view),
      connection: (state, detail) => card.connection(state, detail, stream.reconnects),
    });
    card.render(stream.view);
    if (append) this.list.append(card.el);
    else this.list.prepend(card.el);
    this.entries.set(snap.id, { card, stream });
    stream.start();
    this.syncEmpty();
  }

  private forget(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    e.stream.stop();
    e.card.destroy();
    this.entries.delete(id);
    this.save();
    this.syncEmpty();
  }

  private async act(action: CardAction, id: string, card: TaskCard): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry) return;
    if (action === 'dismiss') {
      this.forget(id);
      return;
    }
    if (action === 'delete' && !card.confirmDelete()) return;
    card.setBusy(action, true);
    try {
      if (action === 'cancel') entry.stream.offer(await cancelTask(id));
      else if (action === 'retry') {
        entry.stream.offer(await retryTask(id));
        // The old socket closed when the task ended; subscribe again for the new attempt.
        entry.stream.start();
      } else if (action === 'delete') {
        await deleteTask(id);
        this.forget(id);
      }
      this.say('');
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) this.onAuthNeeded();
      this.say(`Could not ${action} the task: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      card.setBusy(action, false);
    }
  }
}
