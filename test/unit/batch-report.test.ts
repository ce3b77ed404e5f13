/**
 * The child's side of a batch (src/objects/batch-report.ts): status changes reach the batch at once,
 * progress at most every BATCH_PROGRESS_INTERVAL_MS with the newest value last, nothing is sent for a
 * task outside a batch, and a batch that cannot be reached never breaks the task.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BATCH_PROGRESS_INTERVAL_MS, BatchReporter } from '../../src/objects/batch-report.ts';
import type { ChildReport } from '../../src/protocol/batch.ts';

function setup(batchId: string | null, fail = false) {
  const sent: ChildReport[] = [];
  // Which batch each report was addressed to: asserted by the tests, outside the fake (the reporter
  // swallows whatever the batch's RPC throws, so an expect() in there could never fail a test).
  const addressed: string[] = [];
  const pending: Promise<unknown>[] = [];
  let state: ChildReport = {
    taskId: 't1',
    status: 'running',
    progress: 0,
    message: '',
    error: null,
    seq: 1,
    outputs: [],
  };
  const ctx = { waitUntil: (p: Promise<unknown>) => pending.push(p) } as unknown as DurableObjectState;
  const env = {
    BATCHES: {
      getByName: (id: string) => ({
        childReport: async (r: ChildReport) => {
          addressed.push(id);
          if (fail) throw new Error('batch unreachable');
          sent.push(r);
        },
      }),
    },
  } as unknown as Env;
  const reporter = new BatchReporter(ctx, env, () => ({ batchId, report: state }));
  const set = (patch: Partial<ChildReport>) => {
    state = { ...state, ...patch, seq: state.seq + 1 };
  };
  return { reporter, sent, pending, set, addressed };
}

describe('BatchReporter', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends the first progress at once, holds a burst, and sends the newest value when the interval ends', async () => {
    const { reporter, sent, pending, set, addressed } = setup('b1');
    for (let p = 1; p <= 20; p++) {
      set({ progress: p });
      reporter.progressed();
      await vi.advanceTimersByTimeAsync(10);
    }
    await Promise.all(pending);
    expect(sent.map((r) => r.progress)).toEqual([1]);
    await vi.advanceTimersByTimeAsync(BATCH_PROGRESS_INTERVAL_MS);
    await Promise.all(pending);
    expect(sent.map((r) => r.progress)).toEqual([1, 20]);
    expect(addressed).toEqual(['b1', 'b1']);
  });

  it('sends a status change at once, folding in a held progress report', async () => {
    const { reporter, sent, pending, set, addressed } = setup('b7');
    set({ progress: 10 });
    reporter.progressed();
    set({ progress: 50 });
    reporter.progressed();
    set({ status: 'succeeded', progress: 100 });
    reporter.statusChanged();
    await vi.advanceTimersByTimeAsync(BATCH_PROGRESS_INTERVAL_MS * 2);
    await Promise.all(pending);
    expect(sent.map((r) => [r.status, r.progress])).toEqual([
      ['running', 10],
      ['succeeded', 100],
    ]);
    expect(addressed).toEqual(['b7', 'b7']);
  });

  it('says nothing for a task outside a batch, and survives a batch it cannot reach', async () => {
    const alone = setup(null);
    alone.reporter.progressed();
    alone.reporter.statusChanged();
    expect(alone.pending).toHaveLength(0);
    expect(alone.addressed).toEqual([]);

    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const lost = setup('b2', true);
    lost.reporter.statusChanged();
    await expect(Promise.all(lost.pending)).resolves.toBeDefined();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('batch report failed'));
    expect(lost.addressed).toEqual(['b2']);
    warn.mockRestore();
  });
});
