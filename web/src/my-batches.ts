/**
 * The batches started from this browser, above the task cards: each a BatchBar (aggregate progress,
 * counts, the zip once done). Their ids are kept in localStorage like the tasks' (my-tasks.ts), so a
 * reload or a reopened tab shows them again instead of losing the batch's summary and its archive link.
 */
import type { BatchSnapshot } from '../../src/protocol/batch.ts';
import { ApiError, request } from './api.ts';
import { BatchBar } from './batch-bar.ts';
import { $ } from './dom.ts';
import { loadIds, saveIds } from './remembered-ids.ts';

const STORAGE = 'clipyard.myBatches';
const MAX_KEPT = 10;

export class MyBatches {
  private readonly list = $('#batch-list');
  private readonly bars = new Map<string, BatchBar>();
  private readonly onAuthNeeded: () => void;

  constructor(onAuthNeeded: () => void) {
    this.onAuthNeeded = onAuthNeeded;
  }

  /** Show the remembered batches again (one that is gone is dropped from the list at its next save). */
  async restore(): Promise<void> {
    const ids = loadIds(STORAGE, MAX_KEPT);
    const snaps = await Promise.all(
      ids.map((id) =>
        request<BatchSnapshot>(`/api/batches/${encodeURIComponent(id)}`).catch((err: unknown) => {
          if (err instanceof ApiError && err.status === 401) this.onAuthNeeded();
          return null;
        }),
      ),
    );
    // oldest first, so the newest ends on top
    for (const snap of snaps.reverse()) if (snap && !this.bars.has(snap.id)) this.mount(snap);
  }

  /** A batch just created here. */
  add(snap: BatchSnapshot): void {
    if (this.bars.has(snap.id)) return;
    this.mount(snap);
    this.save();
  }

  private mount(snap: BatchSnapshot): void {
    const bar = new BatchBar(snap, (b) => {
      b.stop();
      this.bars.delete(snap.id);
      this.save();
    });
    this.bars.set(snap.id, bar);
    this.list.prepend(bar.el);
    bar.start();
  }

  private save(): void {
    saveIds(STORAGE, MAX_KEPT, this.list, 'section.batch');
  }
}
