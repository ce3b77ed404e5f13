/**
 * The run timeline's rules (src/lib/timeline-model.ts): what the
 * snapshot's `timeline` shows for a run that waited, ran a step through two stages and succeeded; for
 * a retried attempt; for a requeue; and that a task retried without end stops recording.
 */
import { describe, expect, it } from 'vitest';
import { MAX_SPANS, TimelineModel } from '../../src/lib/timeline-model.ts';

describe('run timeline model', () => {
  it('a run that waited, ran one step through two stages and succeeded: every span closed in order', () => {
    const tl = new TimelineModel();
    tl.created(100);
    tl.apply({ kind: 'status', status: 'running', attempt: 1, at: 110 });
    tl.apply({ kind: 'step', step: 0, op: 'audio', status: 'running', at: 111 });
    expect(tl.apply({ kind: 'stage', step: 0, name: 'downloading', at: 112 })).toBe(true);
    // the same stage again changes nothing (progress events repeat it many times a second)
    expect(tl.apply({ kind: 'stage', step: 0, name: 'downloading', at: 113 })).toBe(false);
    expect(tl.stageOf(0)).toBe('downloading');
    tl.apply({ kind: 'stage', step: 0, name: 'extracting', at: 120 });
    tl.apply({ kind: 'step', step: 0, op: 'audio', status: 'succeeded', at: 130 });
    tl.apply({ kind: 'status', status: 'succeeded', attempt: 1, at: 131 });
    expect(tl.attempts).toEqual([
      {
        attempt: 1,
        waits: [{ name: 'queued', startedAt: 100, endedAt: 110 }],
        startedAt: 110,
        endedAt: 131,
        outcome: 'succeeded',
        steps: [
          {
            index: 0,
            op: 'audio',
            startedAt: 111,
            endedAt: 130,
            outcome: 'succeeded',
            stages: [
              { name: 'downloading', startedAt: 112, endedAt: 120 },
              { name: 'extracting', startedAt: 120, endedAt: 130 },
            ],
          },
        ],
      },
    ]);
  });

  it('a failed attempt closes as retrying, and the backoff is the wait before the next one', () => {
    const tl = new TimelineModel();
    tl.created(0);
    tl.apply({ kind: 'status', status: 'running', attempt: 1, at: 10 });
    tl.apply({ kind: 'step', step: 0, op: 'probe', status: 'running', at: 11 });
    tl.apply({ kind: 'stage', step: 0, name: 'probing', at: 12 });
    tl.apply({ kind: 'status', status: 'retrying', attempt: 1, at: 20 });
    tl.apply({ kind: 'status', status: 'running', attempt: 2, at: 30 });
    tl.apply({ kind: 'step', step: 0, op: 'probe', status: 'running', at: 31 });
    tl.apply({ kind: 'status', status: 'failed', attempt: 2, at: 40 });
    const [a1, a2] = tl.attempts;
    expect([a1?.outcome, a2?.outcome]).toEqual(['retrying', 'failed']);
    expect(a1?.steps[0]).toMatchObject({ endedAt: 20, outcome: 'retrying' });
    expect(a1?.steps[0]?.stages).toEqual([{ name: 'probing', startedAt: 12, endedAt: 20 }]);
    expect(a2?.waits).toEqual([{ name: 'retrying', startedAt: 20, endedAt: 30 }]);
    expect(a2?.steps[0]).toMatchObject({ startedAt: 31, endedAt: 40, outcome: 'failed' });
  });

  it('a stage with no step running, or a step with no attempt running, records nothing', () => {
    const tl = new TimelineModel();
    tl.created(0);
    expect(tl.apply({ kind: 'step', step: 0, op: 'probe', status: 'running', at: 1 })).toBe(false);
    tl.apply({ kind: 'status', status: 'running', attempt: 1, at: 2 });
    expect(tl.apply({ kind: 'stage', step: 0, name: 'probing', at: 3 })).toBe(false);
    expect(tl.attempts[0]?.steps).toEqual([]);
  });

  it('a requeue (a manual retry) cancels what was open and waits again', () => {
    const tl = new TimelineModel();
    tl.created(0);
    tl.apply({ kind: 'status', status: 'running', attempt: 1, at: 1 });
    tl.apply({ kind: 'step', step: 0, op: 'probe', status: 'running', at: 2 });
    tl.apply({ kind: 'status', status: 'queued', attempt: 2, at: 3 });
    expect(tl.attempts[0]).toMatchObject({ endedAt: 3, outcome: 'canceled' });
    expect(tl.attempts[0]?.steps[0]).toMatchObject({ endedAt: 3, outcome: 'canceled' });
    expect(tl.attempts[1]?.waits).toEqual([{ name: 'queued', startedAt: 3, endedAt: null }]);
  });

  it('continues from a stored value: the open attempt and step are found again', () => {
    const first = new TimelineModel();
    first.created(0);
    first.apply({ kind: 'status', status: 'running', attempt: 1, at: 1 });
    first.apply({ kind: 'step', step: 0, op: 'probe', status: 'running', at: 2 });
    const again = new TimelineModel(JSON.parse(JSON.stringify(first.attempts)));
    expect(again.apply({ kind: 'stage', step: 0, name: 'probing', at: 3 })).toBe(true);
    again.apply({ kind: 'status', status: 'succeeded', attempt: 1, at: 4 });
    expect(again.attempts[0]?.steps[0]?.stages).toEqual([{ name: 'probing', startedAt: 3, endedAt: 4 }]);
  });

  it(`stops recording at ${MAX_SPANS} spans`, () => {
    const tl = new TimelineModel();
    tl.created(0);
    tl.apply({ kind: 'status', status: 'running', attempt: 1, at: 0 });
    tl.apply({ kind: 'step', step: 0, op: 'probe', status: 'running', at: 0 });
    for (let i = 0; i < MAX_SPANS + 10; i++) tl.apply({ kind: 'stage', step: 0, name: `s${i % 2}`, at: i });
    const a = tl.attempts[0]!;
    expect(a.waits.length + 1 + a.steps.length + a.steps[0]!.stages.length).toBe(MAX_SPANS);
  });
});
