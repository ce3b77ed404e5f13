/**
 * Live subscribers of one object's event log: hibernatable WebSockets and Server-Sent Event streams.
 * TaskSockets and BatchSockets are this class with their own snapshot and event types.
 *
 * A subscriber first gets a snapshot, then every event with seq > its `after`, then the live tail.
 * Replay and registration happen in one synchronous turn of the object, so no event can slip between
 * them. WebSockets survive hibernation (the runtime holds them); SSE streams live in memory and end
 * when the object is evicted, after which the client reconnects with Last-Event-ID.
 *
 * Why clients should stop at the terminal status event rather than wait for `close`: under workerd
 * (wrangler dev), the TCP connection lingers about 10 s after the close handshake has completed,
 * whichever side starts it and with or without wrangler's proxy in front (measured with a raw socket
 * against the runtime's own port), so a client's `close` event arrives that much later. Nothing in
 * how the object closes changes that; the terminal status event is always sent first.
 */
import type { SubscriptionMessage } from '../protocol/wire.ts';
import { CLOSE_TOO_BIG, noteClientMessage } from './socket-guard.ts';

const encoder = new TextEncoder();
/** A WebSocket client may send at most this many messages per connection (it only needs pings). */
export const MAX_CLIENT_MESSAGES = 1_000;

export class Subscribers<S, E extends { seq: number }> {
  private readonly ctx: DurableObjectState;
  private readonly sse = new Set<WritableStreamDefaultWriter<Uint8Array>>();
  /**
   * The WebSockets to broadcast to, as `ctx.getWebSockets()` listed them, or null when that list may
   * have changed since (a socket accepted, closed or failing; a new instance after hibernation).
   * Why: getWebSockets() builds a new array of wrappers on every call: 1.2 % of workerd's perf samples
   * at 100 subscribers when called once per progress event (bench/NOTES.md, "Progress latency").
   */
  private listed: WebSocket[] | null = null;
  /** The close reason a subscriber gets when it connects after the end. */
  private readonly endedReason: string;

  constructor(ctx: DurableObjectState, endedReason: string) {
    this.ctx = ctx;
    this.endedReason = endedReason;
    // Answered by the runtime without waking a hibernated object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
  }

  private static frame<S, E extends { seq: number }>(message: SubscriptionMessage<S, E>): Uint8Array {
    const id = message.type === 'event' ? `id: ${message.event.seq}\n` : '';
    return encoder.encode(`${id}event: ${message.type}\ndata: ${JSON.stringify(message)}\n\n`);
  }

  /** The seq a subscriber has already seen: `?after=`, or Last-Event-ID when an SSE client reconnects. */
  static afterOf(request: Request): number {
    const raw = new URL(request.url).searchParams.get('after') ?? request.headers.get('last-event-id') ?? '0';
    return /^\d{1,12}$/.test(raw) ? Number(raw) : 0;
  }

  /** Answer a subscription: a WebSocket when the request asks to upgrade, an SSE stream otherwise. */
  subscribe(request: Request, snapshot: S, replay: readonly E[], ended: boolean): Response {
    return request.headers.get('upgrade')?.toLowerCase() === 'websocket'
      ? this.acceptWebSocket(snapshot, replay, ended)
      : this.openEventStream(snapshot, replay, ended);
  }

  /** A message from a subscriber (it needs nothing but "ping"): too big or too many closes it. */
  onClientMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (!noteClientMessage(ws, message, Date.now())) ws.close(CLOSE_TOO_BIG, 'message too big');
    else if (!this.countClientMessage(ws)) ws.close(1008, 'too many messages');
  }

  /** Answer a client's close frame (reserved codes become 1000, which close() accepts). */
  onClientClose(ws: WebSocket, code: number, reason: string): void {
    this.listed = null;
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      /* already closed */
    }
  }

  /** Accept a WebSocket, send the snapshot and the replay, and keep it for the live tail. */
  acceptWebSocket(snapshot: S, replay: readonly E[], closeAfter: boolean): Response {
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    this.listed = null;
    server.serializeAttachment({ messages: 0 });
    server.send(JSON.stringify({ type: 'snapshot', snapshot } satisfies SubscriptionMessage<S, E>));
    for (const event of replay)
      server.send(JSON.stringify({ type: 'event', event } satisfies SubscriptionMessage<S, E>));
    if (closeAfter) server.close(1000, this.endedReason);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Open an SSE stream with the snapshot and the replay; it stays open for the live tail. */
  openEventStream(snapshot: S, replay: readonly E[], closeAfter: boolean): Response {
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    void writer.write(Subscribers.frame<S, E>({ type: 'snapshot', snapshot }));
    for (const event of replay) void writer.write(Subscribers.frame<S, E>({ type: 'event', event }));
    if (closeAfter) void writer.close();
    else this.sse.add(writer);
    return new Response(readable, {
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
      },
    });
  }

  /** Subscribers connected now: WebSockets the runtime holds and open SSE streams (idle release). */
  get count(): number {
    return this.ctx.getWebSockets().length + this.sse.size;
  }

  /** Send events, in order, to every subscriber. */
  broadcast(events: E | readonly E[]): void {
    const list: readonly E[] = Array.isArray(events) ? events : [events as E];
    if (list.length === 0) return;
    const texts = list.map((event) => JSON.stringify({ type: 'event', event } satisfies SubscriptionMessage<S, E>));
    this.listed ??= this.ctx.getWebSockets();
    for (const ws of this.listed) {
      try {
        for (const text of texts) ws.send(text);
      } catch {
        // a socket that is closing (webSocketClose cleans up): list them again next time
        this.listed = null;
      }
    }
    if (this.sse.size > 0) {
      const frames = list.map((event) => Subscribers.frame<S, E>({ type: 'event', event }));
      for (const writer of this.sse) {
        for (const frame of frames) writer.write(frame).catch(() => this.sse.delete(writer));
      }
    }
  }

  /** End every subscription normally (the task or batch ended, or was deleted). */
  closeAll(reason: string): void {
    this.listed = null;
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.close(1000, reason);
      } catch {
        /* already closed */
      }
    }
    for (const writer of this.sse) writer.close().catch(() => {});
    this.sse.clear();
  }

  /** Count a client message; returns false when the client exceeded its allowance. */
  countClientMessage(ws: WebSocket): boolean {
    const state = (ws.deserializeAttachment() as { messages?: number } | null) ?? {};
    const messages = (state.messages ?? 0) + 1;
    ws.serializeAttachment({ ...state, messages });
    return messages <= MAX_CLIENT_MESSAGES;
  }
}
