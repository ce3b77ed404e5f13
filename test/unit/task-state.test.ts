/**
 * The one reducer the page, the typed client and the CLI share (src/client/task-state.ts), and the
 * speed's two named fields: what a watcher shows after a new attempt, a replay, a burst of equal
 * updates, and an old runner's single `speed`.
 */
import { describe, expect, it } from 'vitest';
import {
  initialState,
  progressOf,
  sameProgress,
  stateWithEvent,
  stateWithSnapshot,
} from '../../src/client/task-state.ts';
import { formatBytes, formatLiveSpeed } from '../../src/client/units.ts';
import { speedFields } from '../../src/lib/speed.ts';
import type { TaskEvent, TaskSnapshot } from '../../src/protocol/task.ts';
import { newView, applyEvent as pageApplyEvent } from '../../web/src/task-model.ts';

function snapshot(over: Partial<TaskSnapshot> = {}): TaskSnapshot {
  return {
    id: 't1',
    status: 'running',
    stage: 'transcoding',
    progress: 0,
    message: '',
    attempt: 1,
    maxAttempts: 4,
    nextRetryAt: null,
    input: { url: 'https://x.test/a.mp4' },
    label: null,
    steps: [
      { index: 0, op: 'download', params: {}, status: 'succeeded', progress: 100, outputs: [] },
      { index: 1, op: 'transcode', params: {}, status: 'running', progress: 40, outputs: [] },
    ],
    outputs: [],
    error: null,
    seq: 10,
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}

const progress = (
  seq: number,
  p: number,
  extra: Partial<Extract<TaskEvent, { kind: 'progress' }>> = {},
): TaskEvent => ({
  seq,
  at: seq,
  kind: 'progress',
  step: 1,
  stage: 'transcoding',
  progress: p,
  stepProgress: p,
  message: 'encoding',
  ...extra,
});

describe('the shared task reducer', () => {
  it('a new attempt resumes at the value the server gave, not at 0', () => {
    let s = initialState(snapshot({ progress: 62 }));
    s = stateWithEvent(s, { seq: 11, at: 11, kind: 'status', status: 'retrying', message: 'stalled', attempt: 1 });
    s = stateWithEvent(s, { seq: 12, at: 12, kind: 'status', status: 'running', message: 'starting', attempt: 2 });
    expect(s.snap.progress).toBe(62);
    expect(s.snap.steps.map((st) => [st.status, st.progress])).toEqual([
      ['succeeded', 100],
      ['pending', 0],
    ]);
    // Once the status event carries the progress, that is what every watcher shows.
    const withProgress = { seq: 13, at: 13, kind: 'status', status: 'running', message: 'x', attempt: 3, progress: 50 };
    s = stateWithEvent(s, withProgress as TaskEvent);
    expect(s.snap.progress).toBe(50);
  });

  it('a replay up to the snapshot changes nothing; later events advance it', () => {
    let s = initialState(snapshot({ progress: 70 }));
    s = stateWithEvent(s, progress(9, 40));
    expect(s.snap.progress).toBe(70);
    s = stateWithEvent(s, progress(11, 75, { realtime: 2.5, eta: 3 }));
    expect([s.snap.progress, s.live.realtime, s.live.eta]).toEqual([75, 2.5, 3]);
    expect(stateWithSnapshot(s, snapshot({ seq: 9, progress: 10 }))).toBe(s);
  });

  it('identical consecutive updates compare equal, a moved number does not', () => {
    const a = progressOf(snapshot(), { bytesPerSecond: 1000 });
    expect(sameProgress(a, progressOf(snapshot(), { bytesPerSecond: 1000 }))).toBe(true);
    expect(sameProgress(a, progressOf(snapshot({ progress: 1 }), { bytesPerSecond: 1000 }))).toBe(false);
    expect(sameProgress(null, a)).toBe(false);
  });
});

describe('the page and the client', () => {
  it('show the same task after the same events (a retry, progress, the end)', () => {
    const events: TaskEvent[] = [
      { seq: 11, at: 11, kind: 'status', status: 'retrying', message: 'stalled', attempt: 1 },
      { seq: 12, at: 12, kind: 'status', status: 'running', message: 'starting', attempt: 2 },
      progress(13, 80, { bytesPerSecond: 2048 }),
      { seq: 14, at: 14, kind: 'step', step: 1, status: 'succeeded', op: 'transcode' },
      { seq: 15, at: 15, kind: 'status', status: 'succeeded', message: 'done', attempt: 2 },
    ];
    let client = initialState(snapshot({ progress: 62 }));
    let page = newView(snapshot({ progress: 62 }));
    for (const e of events) {
      client = stateWithEvent(client, e);
      page = pageApplyEvent(page, e);
      expect(page.snap, `after seq ${e.seq}`).toEqual(client.snap);
      expect(page.live).toEqual(client.live);
    }
    expect(page.seen).toEqual([11, 12, 13, 14, 15]);
  });
});

describe('speed as two named fields', () => {
  it("new runners send bytesPerSecond or realtime; an old runner's speed is read by its stage", () => {
    expect(speedFields({ stage: 'downloading', bytesPerSecond: 5000 })).toEqual({ bytesPerSecond: 5000 });
    expect(speedFields({ stage: 'transcoding', realtime: 2.4 })).toEqual({ realtime: 2.4 });
    expect(speedFields({ stage: 'downloading', speed: 5000 })).toEqual({ bytesPerSecond: 5000 });
    expect(speedFields({ stage: 'extracting', speed: 30 })).toEqual({ realtime: 30 });
    expect(speedFields({ stage: 'extracting' })).toEqual({});
  });

  it('shows "2.0 MB/s" while downloading and "2.4x" while encoding, sizes in kB/MB', () => {
    expect(formatLiveSpeed({ bytesPerSecond: 2 * 1024 ** 2 })).toBe('2.0 MB/s');
    expect(formatLiveSpeed({ realtime: 2.44 }, '× realtime')).toBe('2.4× realtime');
    expect(formatLiveSpeed({})).toBe('');
    expect(formatBytes(1536)).toBe('1.5 kB');
  });
});
