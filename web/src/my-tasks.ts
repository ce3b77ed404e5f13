/**
 * "Your tasks" on the main view: the tasks started from this browser (their ids kept in
 * localStorage), each a live card over its own WebSocket. Opening a `#task=<id>` link adds that task.
 */
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import { ApiError, cancelTask, deleteTask, getTask, retryTask } from './api.ts';
import { $, setText, show } from './dom.ts';
import { loadIds, saveIds } from './remembered-ids.ts';
import { type CardAction, TaskCard } from './task-card.ts';
import { TaskStream } from './task-stream.ts';

const STORAGE = 'clipyard.myTasks';
const MAX_KEPT = 30;

interface Entry {
  card: TaskCard;
  stream: TaskStream;
}

export class MyTasks {
  private readonly list = $('#task-list');
  private readonly empty = $('#task-list-empty');
  private readonly notice = $('#notice');
  readonly entries = new Map<string, Entry>();

  private readonly onAuthNeeded: () => void;

  constructor(onAuthNeeded: () => void) {
    this.onAuthNeeded = onAuthNeeded;
    window.addEventListener('online', () => {
      for (const e of this.entries.values()) e.stream.reconnectNow();
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
    show(this.empty, this.entries.size === 0);
  }

  private say(text: string): void {
    setText(this.notice, text);
    show(this.notice, text.length > 0);
  }

  /** Show a task that was just created (its snapshot came with the 202). */
  add(snap: TaskSnapshot): void {
    if (this.entries.has(snap.id)) return;
    this.mount(snap, false);
    this.save();
  }

  /** Show a task by id (a #task= link, or one remembered from before). */
  async open(id: string): Promise<void> {
    const existing = this.entries.get(id);
    if (existing) {
      existing.card.el.scrollIntoView({ block: 'nearest' });
      return;
    }
    try {
      const snap = await getTask(id);
      if (this.entries.has(id)) return;
      this.mount(snap, false);
      this.save();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) this.onAuthNeeded();
      this.say(`Task ${id}: ${err instanceof Error ? err.message : String(err)}`);
    }
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
