/**
 * The card's time left and its bar between events (web/src/eta.ts): "estimating" until steady, an
 * early wild runner figure does not become the ETA, the estimate counts down between events, and the
 * bar creeps on between sparse events without ever running back or reaching 100 early.
 */
import { describe, expect, it } from 'vitest';
import { CREEP_MAX_POINTS, EtaSmoother, STEADY_AFTER_MS } from '../../web/src/eta.ts';

describe('the ETA a card shows', () => {
  it('says "estimating" first, then stays near the truth for a steady 40 s job despite a wild first figure', () => {
    const eta = new EtaSmoother();
    const JOB_S = 40;
    const shown: [number, number | null][] = [];
    for (let t = 0; t <= 36; t++) {
      const progress = (t / JOB_S) * 100;
      // the runner's own figure starts far off (step-level and noisy), then settles
      const reported = t < 4 ? 120 : JOB_S - t;
      eta.update(t * 1000, progress, 1, true, reported);
      shown.push([t, eta.eta(t * 1000)]);
    }
    for (const [t, s] of shown) if (t * 1000 < STEADY_AFTER_MS) expect(s).toBeNull();
    for (const [t, s] of shown.filter(([t]) => t >= 12)) {
      expect(Math.abs(s! - (JOB_S - t)), `at ${t} s it said ${s}`).toBeLessThan(0.3 * (JOB_S - t) + 2);
    }
  });

  it('counts down between events instead of standing still', () => {
    const eta = new EtaSmoother();
    for (let t = 0; t <= 5; t++) eta.update(t * 1000, t * 5, 1, true, 20 - t);
    const at5 = eta.eta(5_000)!;
    expect(eta.eta(7_000)!).toBeCloseTo(at5 - 2, 5);
  });

  it('starts over on a new attempt and says nothing once the task has ended', () => {
    const eta = new EtaSmoother();
    for (let t = 0; t <= 5; t++) eta.update(t * 1000, t * 5, 1, true);
    expect(eta.eta(5_000)).not.toBeNull();
    eta.update(6_000, 25, 2, true);
    expect(eta.eta(6_000)).toBeNull();
    eta.update(7_000, 100, 2, false);
    expect(eta.eta(7_000)).toBeNull();
  });
});

describe('the bar between events', () => {
  it('creeps on at the observed rate, at most a few points ahead, never back, never to 100 early', () => {
    const eta = new EtaSmoother();
    eta.update(0, 0, 1, true);
    eta.update(1_000, 10, 1, true);
    const drawn: number[] = [];
    for (let t = 1_000; t <= 4_000; t += 250) drawn.push(eta.barValue(t, 10));
    expect(new Set(drawn).size).toBeGreaterThan(4);
    expect(Math.max(...drawn)).toBeLessThanOrEqual(10 + CREEP_MAX_POINTS);
    // the next real value is lower than where the bar crept to: the bar waits, it does not go back
    eta.update(4_000, 12, 1, true);
    expect(eta.barValue(4_000, 12)).toBe(drawn.at(-1));
    eta.update(9_000, 98, 1, true);
    expect(eta.barValue(60_000, 98)).toBeLessThanOrEqual(99);
    eta.update(9_500, 100, 1, false);
    expect(eta.barValue(9_500, 100)).toBe(100);
  });
});
