/** Batch math (src/lib/batch-progress.ts): counts, the aggregate bar, the batch's status. */
import { describe, expect, it } from 'vitest';
import {
  aggregateProgress,
  batchStatusOf,
  countStatuses,
  describeCounts,
  mergeChildProgress,
} from '../../src/lib/batch-progress.ts';
import type { TaskStatus } from '../../src/protocol/task.ts';

const child = (status: TaskStatus, progress = 0) => ({ status, progress });

describe('aggregateProgress', () => {
  it('is the mean of the children, a finished child counting 100 whatever its outcome', () => {
    expect(aggregateProgress([child('running', 50), child('queued')])).toBe(25);
    expect(aggregateProgress([child('succeeded', 100), child('failed', 10), child('running', 40)])).toBe(80);
    expect(aggregateProgress([child('succeeded', 100), child('failed', 3), child('canceled')])).toBe(100);
  });

  it('never shows 100 while a child still runs', () => {
    const many = Array.from({ length: 99 }, () => child('succeeded', 100));
    expect(aggregateProgress([...many, child('running', 99.9)])).toBeLessThan(100);
  });
});

describe('batchStatusOf', () => {
  const status = (...s: TaskStatus[]) => batchStatusOf(countStatuses(s));
  it('is running while any child is unfinished, then says how it ended', () => {
    expect(status('succeeded', 'retrying')).toBe('running');
    expect(status('succeeded', 'succeeded')).toBe('succeeded');
    expect(status('succeeded', 'failed')).toBe('partial');
    expect(status('failed', 'canceled')).toBe('failed');
    expect(status('canceled', 'canceled')).toBe('canceled');
  });

  it('describes the outcome', () => {
    const counts = countStatuses([...Array.from({ length: 9 }, () => 'succeeded' as const), 'failed']);
    expect(describeCounts(counts, batchStatusOf(counts))).toBe('9 of 10 succeeded, 1 failed');
  });
});

describe('mergeChildProgress', () => {
  it('keeps the highest value within a run, and starts over after an explicit retry', () => {
    expect(mergeChildProgress(child('running', 60), child('running', 20))).toBe(60);
    expect(mergeChildProgress(child('running', 60), child('retrying', 0))).toBe(60);
    expect(mergeChildProgress(child('failed', 60), child('queued', 0))).toBe(0);
    expect(mergeChildProgress(child('running', 60), child('succeeded', 90))).toBe(100);
  });
});
