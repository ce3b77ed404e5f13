/**
 * What the card says about time left and how far its bar has got between events. Pure (the caller
 * passes the clock), unit-tested in test/unit/eta.test.ts.
 *
 * ETA: the runner's figure is per step and jumps early on, and a whole-task rate measured over the
 * first second is noise; so the card says "estimating" until the attempt has run a few seconds with
 * a few updates, then shows an estimate blended from the runner's figure and the observed rate,
 * smoothed, and counting down between events instead of jumping.
 *
 * The bar: events may be seconds apart (a transcript sat at 37% for 2.8 s), so between them the bar
 * creeps on at the observed rate, never more than CREEP_MAX_POINTS past the last real value and never
 * to 100; it never moves back. The percentage text and aria-valuenow stay the real value.
 */

/** Until the attempt has run this long with this many updates, the ETA is "estimating". */
export const STEADY_AFTER_MS = 3_000;
export const STEADY_AFTER_UPDATES = 3;
/** How much of each new raw estimate enters the shown one. */
const SMOOTHING = 0.3;
/** How far the bar may run ahead of the last real value. */
export const CREEP_MAX_POINTS = 8;

export class EtaSmoother {
  private startAt = 0;
  private startProgress = 0;
  private attempt = -1;
  private updates = 0;
  private lastProgress = -1;
  private smoothed: number | null = null;
  private smoothedAt = 0;
  private lastRealAt = 0;
  private shown = 0;

  /** A new real progress value (an event or a snapshot) at `now`; `reported` is the runner's ETA (s). */
  update(now: number, progress: number, attempt: number, running: boolean, reported?: number): void {
    if (!running) {
      this.attempt = -1;
      this.smoothed = null;
      this.shown = progress;
      return;
    }
    if (attempt !== this.attempt || progress < this.startProgress) {
      this.attempt = attempt;
      this.startAt = now;
      this.startProgress = progress;
      this.updates = 0;
      this.smoothed = null;
      this.shown = Math.max(progress, 0);
    }
    if (progress !== this.lastProgress) this.updates++;
    this.lastProgress = progress;
    this.lastRealAt = now;
    const elapsedS = (now - this.startAt) / 1000;
    const gained = progress - this.startProgress;
    const observed = gained > 0 && elapsedS > 0 ? ((100 - progress) * elapsedS) / gained : undefined;
    const raw =
      observed !== undefined && reported !== undefined
        ? (observed + reported) / 2
        : (observed ?? reported ?? undefined);
    if (raw === undefined || !Number.isFinite(raw)) return;
    const countedDown = this.smoothed === null ? null : this.smoothed - (now - this.smoothedAt) / 1000;
    this.smoothed = countedDown === null ? raw : countedDown + SMOOTHING * (raw - countedDown);
    this.smoothedAt = now;
  }

  /** Seconds left to show, or null while still estimating (or when nothing is known). */
  eta(now: number): number | null {
    if (this.attempt === -1 || this.smoothed === null) return null;
    if (now - this.startAt < STEADY_AFTER_MS || this.updates < STEADY_AFTER_UPDATES) return null;
    return Math.max(0, this.smoothed - (now - this.smoothedAt) / 1000);
  }

  /** Where the bar's fill should be at `now`, given the last real value. */
  barValue(now: number, real: number): number {
    if (this.attempt === -1) {
      this.shown = Math.max(this.shown, real);
      return this.shown;
    }
    const elapsedS = (this.lastRealAt - this.startAt) / 1000;
    const gained = this.lastProgress - this.startProgress;
    const rate = elapsedS > 0 && gained > 0 ? gained / elapsedS : 0;
    const ahead = Math.min(CREEP_MAX_POINTS, (rate * (now - this.lastRealAt)) / 1000);
    const target = Math.min(99, real + ahead);
    this.shown = Math.max(this.shown, real, target);
    return this.shown;
  }
}
