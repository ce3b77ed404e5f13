/**
 * Idle release: an object with nothing to do leaves memory early instead of waiting for the runtime.
 *
 * workerd keeps an idle Durable Object (its JS instance, its SQLite connection, its actor state:
 * ~0.36 MB for a TaskObject) for 10 s after its last request ends, and a task that waits in line or
 * has ended has nothing to do for much longer than that. `IdleRelease` counts what is in flight in
 * this instance (every entry point the object lists, and every promise given to `ctx.waitUntil`);
 * once nothing has been for `afterMs` and the object says it may go (`releaseIn`: e.g. a finished
 * task with no subscribers), it waits for its writes to be durable (`storage.sync()`) and calls
 * `ctx.abort()`, the only way a Durable Object can leave memory by itself. The next request, or the
 * alarm, builds the object again from storage (constructor, migrations, recovery), as after an
 * eviction.
 *
 * What abort means, measured on workerd (scripts/profile-idle.mjs, bench/NOTES.md "Idle release"):
 * calls already running in the object fail with `durableObjectReset` (hence the count of what is in
 * flight, which must be zero), writes not yet committed are dropped (hence the sync), stored alarms
 * stay and fire, WebSockets would be cut (hence `releaseIn` says no while any subscriber is
 * connected), and a stub obtained before the abort fails its next call with `durableObjectReset`,
 * while a new stub reaches the rebuilt object. A call that arrives in the instant of the abort fails
 * the same way; callers retry such a failure once with a new stub (`retryOnReset`).
 *
 * Off when `IDLE_RELEASE_MS` is 0 (wrangler.toml's default, since Cloudflare evicts on its own
 * schedule); local runs (scripts/system.mjs) turn it on. Used by TaskObject.
 */

/** How long an object must have been idle before it releases itself (0: never). */
export function idleReleaseMs(env: Env): number {
  const n = Number(env.IDLE_RELEASE_MS ?? 0);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/**
 * The object's say, once it has been idle `idleForMs` (at least `afterMs`): 0 to leave now, a number
 * of ms to stay idle before asking again, or null to stay until something next happens in it.
 */
export type ReleaseIn = (idleForMs: number) => number | null;

/** The reason an object gives when it releases itself (the error a caller may see in that instant). */
export const RELEASE_REASON = 'released while idle';

export class IdleRelease {
  private readonly ctx: DurableObjectState;
  private readonly afterMs: number;
  private readonly releaseIn: ReleaseIn;
  /** Entry points running and waitUntil promises unsettled in this instance. */
  private inFlight = 0;
  /** Bumped at every entry, so a release that waited on the sync sees any call that came meanwhile. */
  private epoch = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When the count of what is in flight last fell to zero. */
  private idleSince = 0;

  constructor(ctx: DurableObjectState, afterMs: number, releaseIn: ReleaseIn) {
    this.ctx = ctx;
    this.afterMs = afterMs;
    this.releaseIn = releaseIn;
    if (afterMs <= 0) return;
    // Why patch: the object's modules hand their background work (tenant and batch reports, the
    // driver's loop, alarm re-arms) to ctx.waitUntil in a dozen places; counting it here keeps them
    // unaware of release, and an instance with background work unsettled never leaves.
    const waitUntil = ctx.waitUntil.bind(ctx);
    ctx.waitUntil = (promise: Promise<unknown>) => waitUntil(this.track(promise));
  }

  /** Is release on for this object? */
  get enabled(): boolean {
    return this.afterMs > 0;
  }

  /** Run one entry point (an RPC method, fetch, the alarm, a socket event) counted as in flight. */
  async during<T>(entry: () => Promise<T>): Promise<T> {
    this.enter();
    try {
      return await entry();
    } finally {
      this.leave();
    }
  }

  /** Count a promise as in flight until it settles. */
  track<T>(promise: Promise<T>): Promise<T> {
    this.enter();
    return promise.finally(() => this.leave());
  }

  private enter(): void {
    if (this.afterMs <= 0) return;
    this.inFlight++;
    this.epoch++;
  }

  private leave(): void {
    if (this.afterMs <= 0) return;
    this.inFlight--;
    if (this.inFlight > 0) return;
    this.idleSince = Date.now();
    // one timer per idle spell: a call in between moves idleSince, and the timer waits out the rest
    this.timer ??= setTimeout(() => void this.release(), this.afterMs);
  }

  private async release(): Promise<void> {
    this.timer = null;
    if (this.inFlight > 0) return;
    const idleFor = Date.now() - this.idleSince;
    const wait = idleFor < this.afterMs ? this.afterMs - idleFor : this.releaseIn(idleFor);
    if (wait === null) return;
    if (wait > 0) {
      this.timer = setTimeout(() => void this.release(), wait);
      return;
    }
    const epoch = this.epoch;
    // committed writes only: abort drops a write the storage has not made durable yet
    await this.ctx.storage.sync();
    if (epoch !== this.epoch || this.inFlight > 0 || this.releaseIn(Date.now() - this.idleSince) !== 0) return;
    this.ctx.abort(RELEASE_REASON);
  }
}

/**
 * Wrap the named methods of a Durable Object class so each call runs inside its instance's
 * `IdleRelease.during`; `of` finds the instance's IdleRelease.
 */
export function countEntryPoints<T extends object>(
  proto: T,
  names: readonly (keyof T & string)[],
  of: (self: T) => IdleRelease,
): void {
  for (const name of names) {
    const method = proto[name] as unknown as (...args: unknown[]) => Promise<unknown>;
    Object.defineProperty(proto, name, {
      configurable: true,
      writable: true,
      value: function (this: T, ...args: unknown[]) {
        return of(this).during(() => method.apply(this, args));
      },
    });
  }
}

/** Was this error a Durable Object reset (an abort, or the object's restart) before the call ran? */
export function isReset(err: unknown): boolean {
  return (
    typeof err === 'object' && err !== null && (err as { durableObjectReset?: unknown }).durableObjectReset === true
  );
}

/**
 * Call an object through a stub, and once more through a new stub if the first call met a reset
 * (an object that released itself in the instant the call arrived; see the module header).
 */
export async function retryOnReset<S, R>(stub: () => S, call: (stub: S) => R): Promise<Awaited<R>> {
  try {
    return await call(stub());
  } catch (err) {
    if (!isReset(err)) throw err;
    return await call(stub());
  }
}
