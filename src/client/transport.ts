/**
 * The client's HTTP and WebSocket plumbing: base URL, API key, JSON calls that turn error answers
 * into ClipyardApiError and network failures into ClipyardConnectionError, and reconnecting
 * subscriptions. Shared by the task methods (index.ts) and the batch methods (batches.ts).
 */
import { apiError, ClipyardApiError, ClipyardConnectionError } from './errors.ts';
import { type AnyWireMessage, type SubscribeOptions, subscribe } from './subscribe.ts';

export interface RequestInitLite {
  body?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  redirect?: 'manual' | 'follow';
}

export const enc = encodeURIComponent;

export type EventCarrier = 'websocket' | 'sse';

/** Node (and Workers with nodejs_compat): a fetch stream ends at once when aborted, a WebSocket may linger. */
function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === 'string';
}

/** `signal` and a timeout as one signal. */
export function combine(signal: AbortSignal | undefined, timeoutMs: number | undefined): AbortSignal | undefined {
  const timeout = timeoutMs !== undefined ? AbortSignal.timeout(timeoutMs) : undefined;
  if (signal && timeout) return AbortSignal.any([signal, timeout]);
  return signal ?? timeout;
}

export class Transport {
  readonly url: string;
  readonly apiKey: string | undefined;
  readonly fetchImpl: typeof fetch;
  readonly WebSocketImpl: typeof WebSocket | undefined;

  /** how live events travel: a WebSocket, or Server-Sent Events over fetch (see subscribe.ts) */
  readonly events: EventCarrier;

  constructor(
    url: string,
    apiKey: string | undefined,
    fetchImpl: typeof fetch,
    WebSocketImpl?: typeof WebSocket,
    events?: EventCarrier,
  ) {
    this.url = url.replace(/\/+$/, '');
    this.apiKey = apiKey || undefined;
    this.fetchImpl = fetchImpl;
    this.WebSocketImpl = WebSocketImpl;
    this.events = events ?? (WebSocketImpl || !isNode() ? 'websocket' : 'sse');
  }

  async request(method: string, path: string, init: RequestInitLite = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    try {
      return await this.fetchImpl(`${this.url}${path}`, {
        method,
        headers,
        ...(init.body !== undefined ? { body: init.body } : {}),
        ...(init.signal ? { signal: init.signal } : {}),
        ...(init.redirect ? { redirect: init.redirect } : {}),
      });
    } catch (err) {
      if (init.signal?.aborted) throw err;
      throw new ClipyardConnectionError(this.url, err);
    }
  }

  async json<T>(method: string, path: string, init: RequestInitLite = {}): Promise<T> {
    const res = await this.request(method, path, init);
    if (!res.ok) throw await apiError(res, `${method} ${path.split('?')[0]}`);
    return (await res.json()) as T;
  }

  /**
   * A reconnecting subscription to `path` (…/events). Before reconnecting it asks `exists`, so a
   * task or batch that is gone (404) or a refused key (401) ends it instead of retrying forever.
   */
  subscribe<M extends AnyWireMessage>(
    path: string,
    parse: (data: unknown) => M | null,
    exists: () => Promise<unknown>,
    opts: Omit<SubscribeOptions, 'WebSocket' | 'beforeReconnect'>,
  ): AsyncGenerator<M> {
    const sse = this.events === 'sse';
    const base = sse ? this.url : this.url.replace(/^http/, 'ws');
    // Browsers cannot set a WebSocket's headers, so the key travels in the query; SSE sends it as a header.
    const key = this.apiKey && !sse ? `&key=${enc(this.apiKey)}` : '';
    return subscribe((after) => `${base}${path}?after=${after}${key}`, parse, {
      ...opts,
      ...(this.WebSocketImpl ? { WebSocket: this.WebSocketImpl } : {}),
      ...(sse
        ? {
            eventStream: {
              fetch: this.fetchImpl,
              headers: this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {},
            },
          }
        : {}),
      beforeReconnect: async () => {
        try {
          await exists();
        } catch (err) {
          if (err instanceof ClipyardApiError && !err.retryable) throw err;
        }
      },
    });
  }
}

/**
 * End a subscription as soon as the final status (and every event before it) is delivered, instead
 * of waiting for the close handshake, which some proxies are slow to finish.
 */
export async function* untilFinished<M extends AnyWireMessage>(
  messages: AsyncGenerator<M>,
  after: number,
  finishedAt: (m: M) => number | null | undefined,
): AsyncGenerator<M> {
  let last = after;
  let endSeq: number | null = null;
  for await (const m of messages) {
    yield m;
    if (m.type === 'event') last = m.event.seq;
    const end = finishedAt(m);
    if (end !== undefined) endSeq = end;
    if (endSeq !== null && last >= endSeq) return;
  }
}
