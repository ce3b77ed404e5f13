/**
 * A leading-edge + trailing-edge rate cap: the first value goes out at once, values arriving faster
 * than the cap are held and only the newest is sent when the interval ends, so the last value always
 * arrives. `flush()` sends a held value immediately (before an event that must not overtake it).
 *
 * "Faster" is measured on the values' own times when the producer gives them (`push(v, at)`): values
 * produced at an allowed rate that arrive in one burst (the consumer was busy) all go out.
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
  private held: { value: T; at: number } | null = null;
  private timer: unknown = null;
  private readonly intervalMs: number;
  private readonly send: (value: T) => void;
  private readonly clock: Clock;

  constructor(intervalMs: number, send: (value: T) => void, clock: Clock = realClock) {
    this.intervalMs = intervalMs;
    this.send = send;
    this.clock = clock;
  }

  /** `at`: when the value was produced, on the producer's clock (default: now). */
  push(value: T, at: number = this.clock.now()): void {
    // a producer whose clock went backwards (another machine) starts a new series
    if (at < this.lastSentAt) this.lastSentAt = Number.NEGATIVE_INFINITY;
    if (this.held === null && at - this.lastSentAt >= this.intervalMs) {
      this.emit(value, at);
      return;
    }
    this.held = { value, at };
    if (this.timer === null) {
      const wait = Math.min(this.intervalMs, Math.max(0, this.lastSentAt + this.intervalMs - at));
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
    if (held) this.emit(held.value, held.at);
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
