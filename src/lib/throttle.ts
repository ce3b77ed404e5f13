/**
 * A leading-edge + trailing-edge rate cap: the first value goes out at once, values arriving faster
 * than the cap are held and only the newest is sent when the interval ends, so the last value always
 * arrives. `flush()` sends a held value immediately (before an event that must not overtake it).
 *
 * Used by the task object for progress events; the clock and timer are injectable for unit tests.
 */

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export class Throttle<T> {
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private held: { value: T } | null = null;
  private timer: unknown = null;
  private readonly intervalMs: number;
  private readonly send: (value: T) => void;
  private readonly clock: Clock;

  constructor(intervalMs: number, send: (value: T) => void, clock: Clock = realClock) {
    this.intervalMs = intervalMs;
    this.send = send;
    this.clock = clock;
  }

  push(value: T): void {
    const now = this.clock.now();
    if (this.held === null && now - this.lastSentAt >= this.intervalMs) {
      this.emit(value, now);
      return;
    }
    this.held = { value };
    if (this.timer === null) {
      const wait = Math.max(0, this.lastSentAt + this.intervalMs - now);
      this.timer = this.clock.setTimeout(() => {
        this.timer = null;
        this.flush();
      }, wait);
    }
  }

  /** Send the held value now, if any. */
  flush(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    const held = this.held;
    this.held = null;
    if (held) this.emit(held.value, this.clock.now());
  }

  /** Forget a held value without sending it. */
  cancel(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.held = null;
  }

  private emit(value: T, now: number): void {
    this.lastSentAt = now;
    this.send(value);
  }
}
