/**
 * A task's (or a batch's) live event stream that survives drops: on any close other than the
 * server's normal end ("it ended") it reconnects with `after=<last seq>`, so the caller sees every
 * event exactly once and in order, then the live tail.
 *
 * Two carriers of the same messages: a WebSocket (browsers, Workers, or any WebSocket passed in), or
 * Server-Sent Events over fetch, which the client uses in Node: a fetch is aborted at once when the
 * caller has what it needs, while a WebSocket's TCP connection can linger (about 15 s under wrangler
 * dev) after the close handshake and keep a script's process alive that long.
 */

/** Tasks and batches speak the same wire shape: a snapshot, then numbered events. */
export type AnyWireMessage = { type: 'snapshot' } | { type: 'event'; event: { seq: number } };

/** The client keeps the socket warm through idle proxies; the task object answers 'ping' for free. */
const PING_INTERVAL_MS = 25_000;
const DEFAULT_RECONNECT_DELAYS_MS = [250, 500, 1_000, 2_000, 5_000];

export interface SubscribeOptions {
  /** start after this seq (0: the whole log) */
  after?: number;
  signal?: AbortSignal;
  /** waits between reconnect attempts; the last one repeats */
  reconnectDelaysMs?: number[];
  /** consecutive failed connections before giving up (default 20) */
  maxReconnects?: number;
  /** asked before each reconnect; throw to stop (e.g. the task no longer exists) */
  beforeReconnect?: (drop: { code: number; failures: number }) => Promise<void>;
  WebSocket?: typeof WebSocket;
  /** subscribe over Server-Sent Events with this fetch and these headers instead of a WebSocket */
  eventStream?: { fetch: typeof fetch; headers: Record<string, string> };
  /** told when a connection opens, and when one drops (before the wait to reconnect) */
  onConnection?: (change: ConnectionChange) => void;
  /** how often a WebSocket is pinged (default 25 s); the object answers "pong" */
  pingIntervalMs?: number;
  /**
   * No message at all (a pong counts) for this long drops the connection as dead: a network that
   * vanished closes nothing, and the caller should not show frozen numbers as live. Default: never.
   */
  staleAfterMs?: number;
  /** lets the caller drop the live connection or cut a reconnect wait short */
  control?: SubscriptionControl;
}

export type ConnectionChange =
  | { state: 'open' }
  | { state: 'dropped'; code: number; failures: number; retryInMs: number; why: string };

/** A handle on a running subscription: drop its connection (it reconnects), or reconnect now. */
export class SubscriptionControl {
  /** set by subscribe() while a connection is open or opening */
  dropCurrent: ((code: number) => void) | null = null;
  /** set by subscribe() while it waits to reconnect */
  wake: (() => void) | null = null;

  /** Close the live connection as a network failure would; the subscription recovers by itself. */
  drop(code = 4000): boolean {
    if (!this.dropCurrent) return false;
    this.dropCurrent(code);
    return true;
  }

  /** Stop waiting out a reconnect delay (the network is back). */
  reconnectNow(): void {
    this.wake?.();
  }
}

type Item<M> =
  | { kind: 'open' }
  | { kind: 'message'; message: M }
  | { kind: 'closed'; code: number; opened: boolean; why?: string };

interface Connection<M> {
  next(): Promise<Item<M>>;
  /** end it from our side (the caller is done) */
  close(): void;
  /** end it as a network failure would: the subscription reconnects */
  drop(code: number): void;
}

/** A pull queue of one connection's items; the first 'closed' item is its last. */
function queue<M>() {
  const buffer: Item<M>[] = [];
  let wake: (() => void) | null = null;
  let done = false;
  return {
    push(item: Item<M>): void {
      if (done) return;
      if (item.kind === 'closed') done = true;
      buffer.push(item);
      wake?.();
    },
    async next(): Promise<Item<M>> {
      while (buffer.length === 0) await new Promise<void>((r) => (wake = r));
      wake = null;
      return buffer.shift()!;
    },
  };
}

/**
 * One Server-Sent Events connection: `data:` lines of each frame are one message. The server ending
 * the stream is the normal end (code 1000); a refused request or a network failure is a drop.
 */
function connectEventStream<M>(
  url: string,
  parse: (data: unknown) => M | null,
  source: NonNullable<SubscribeOptions['eventStream']>,
  signal?: AbortSignal,
): Connection<M> {
  const q = queue<M>();
  const abort = new AbortController();
  const onAbort = () => abort.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  void (async () => {
    let opened = false;
    try {
      const res = await source.fetch(url, {
        headers: { ...source.headers, accept: 'text/event-stream' },
        signal: abort.signal,
      });
      if (!res.ok || !res.body) {
        await res.body?.cancel();
        q.push({ kind: 'closed', code: 1006, opened });
        return;
      }
      opened = true;
      q.push({ kind: 'open' });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += value;
        let end = buffered.indexOf('\n\n');
        while (end >= 0) {
          const frame = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = frame
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trimStart())
            .join('\n');
          const message = data ? parse(data) : null;
          if (message) q.push({ kind: 'message', message });
          end = buffered.indexOf('\n\n');
        }
      }
      q.push({ kind: 'closed', code: 1000, opened });
    } catch {
      q.push({ kind: 'closed', code: 1006, opened });
    }
  })();
  return {
    next: () => q.next(),
    close(): void {
      signal?.removeEventListener('abort', onAbort);
      abort.abort();
    },
    drop(code: number): void {
      q.push({ kind: 'closed', code, opened: true, why: `connection lost (code ${code})` });
      abort.abort();
    },
  };
}

/** One WebSocket connection as a pull queue of messages ending with its close. */
function connect<M>(
  url: string,
  parse: (data: unknown) => M | null,
  WS: typeof WebSocket,
  signal: AbortSignal | undefined,
  timing: { pingIntervalMs: number; staleAfterMs: number | undefined },
): Connection<M> {
  const ws = new WS(url);
  const q = queue<M>();
  const push = q.push;
  let opened = false;
  let heardAt = Date.now();
  const ping = setInterval(() => {
    if (ws.readyState !== WS.OPEN) return;
    const silentMs = Date.now() - heardAt;
    if (timing.staleAfterMs !== undefined && silentMs >= timing.staleAfterMs) {
      push({ kind: 'closed', code: 4000, opened, why: `no word from the server for ${Math.round(silentMs / 1000)} s` });
      ws.close(4000, 'stale');
      return;
    }
    ws.send('ping');
  }, timing.pingIntervalMs);
  const onAbort = () => ws.close(1000, 'client done');
  signal?.addEventListener('abort', onAbort, { once: true });
  ws.addEventListener('open', () => {
    opened = true;
    heardAt = Date.now();
    push({ kind: 'open' });
  });
  ws.addEventListener('message', (m) => {
    heardAt = Date.now();
    const message = parse(m.data);
    if (message) push({ kind: 'message', message });
  });
  ws.addEventListener('close', (e) => push({ kind: 'closed', code: e.code, opened }));
  ws.addEventListener('error', () => push({ kind: 'closed', code: 1006, opened }));
  return {
    next: () => q.next(),
    close(): void {
      clearInterval(ping);
      signal?.removeEventListener('abort', onAbort);
      if (ws.readyState === WS.CONNECTING || ws.readyState === WS.OPEN) ws.close(1000, 'client done');
    },
    drop(code: number): void {
      push({ kind: 'closed', code, opened, why: `connection lost (code ${code})` });
      if (ws.readyState === WS.CONNECTING || ws.readyState === WS.OPEN) ws.close(code, 'dropped');
    },
  };
}

function sleep(ms: number, signal?: AbortSignal, control?: SubscriptionControl): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (control) control.wake = null;
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (control) control.wake = done;
    const onAbort = () => {
      clearTimeout(timer);
      if (control) control.wake = null;
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Every wire message for a task: a snapshot on each (re)connect, and each event once, in seq order.
 * Ends when the server closes normally (the task ended); throws when reconnecting keeps failing.
 */
export async function* subscribe<M extends AnyWireMessage>(
  urlFor: (after: number) => string,
  parse: (data: unknown) => M | null,
  opts: SubscribeOptions = {},
): AsyncGenerator<M> {
  const WS = opts.WebSocket ?? globalThis.WebSocket;
  if (!WS && !opts.eventStream) {
    throw new Error('no WebSocket implementation: pass one as the WebSocket option (Node 22+ has it built in)');
  }
  const delays = opts.reconnectDelaysMs?.length ? opts.reconnectDelaysMs : DEFAULT_RECONNECT_DELAYS_MS;
  const maxReconnects = opts.maxReconnects ?? 20;
  let after = opts.after ?? 0;
  let failures = 0;
  for (;;) {
    opts.signal?.throwIfAborted();
    const conn: Connection<M> = opts.eventStream
      ? connectEventStream(urlFor(after), parse, opts.eventStream, opts.signal)
      : connect(urlFor(after), parse, WS, opts.signal, {
          pingIntervalMs: opts.pingIntervalMs ?? PING_INTERVAL_MS,
          staleAfterMs: opts.staleAfterMs,
        });
    if (opts.control) opts.control.dropCurrent = (code) => conn.drop(code);
    let closed: Extract<Item<M>, { kind: 'closed' }>;
    try {
      for (;;) {
        const item = await conn.next();
        if (item.kind === 'closed') {
          closed = item;
          break;
        }
        if (item.kind === 'open') {
          opts.onConnection?.({ state: 'open' });
          continue;
        }
        failures = 0;
        const m = item.message;
        if (m.type === 'event') {
          if (m.event.seq <= after) continue;
          after = m.event.seq;
        }
        yield m;
      }
    } finally {
      if (opts.control) opts.control.dropCurrent = null;
      conn.close();
    }
    opts.signal?.throwIfAborted();
    if (closed.code === 1000 && closed.opened) return;
    failures += 1;
    if (failures > maxReconnects) {
      throw new Error(`the event stream dropped ${failures} times in a row (last close code ${closed.code})`);
    }
    await opts.beforeReconnect?.({ code: closed.code, failures });
    const retryInMs = delays[Math.min(failures - 1, delays.length - 1)]!;
    opts.onConnection?.({
      state: 'dropped',
      code: closed.code,
      failures,
      retryInMs,
      why: closed.why ?? `connection lost (code ${closed.code})`,
    });
    await sleep(retryInMs, opts.signal, opts.control);
  }
}
