/**
 * Live subscribers of one task: hibernatable WebSockets and Server-Sent Event streams.
 *
 * A subscriber first gets a snapshot, then every event with seq > its `after`, then the live tail.
 * Replay and registration happen in one synchronous turn of the object, so no event can slip between
 * them. WebSockets survive hibernation (the runtime holds them); SSE streams live in memory and end
 * when the object is evicted, after which the client reconnects with Last-Event-ID.
 */
import type { TaskEvent, TaskSnapshot, WireMessage } from '../protocol/task.ts';

const encoder = new TextEncoder();
/** A WebSocket client may send at most this many messages per connection (it only needs pings). */
export const MAX_CLIENT_MESSAGES = 1_000;

function sseFrame(message: WireMessage): Uint8Array {
  const id = message.type === 'event' ? `id: ${message.event.seq}\n` : '';
  return encoder.encode(`${id}event: ${message.type}\ndata: ${JSON.stringify(message)}\n\n`);
}

export class TaskSockets {
  private readonly ctx: DurableObjectState;
  private readonly sse = new Set<WritableStreamDefaultWriter<Uint8Array>>();

  constructor(ctx: DurableObjectState) {
    this.ctx = ctx;
    // Answered by the runtime without waking a hibernated object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
  }

  /** Accept a WebSocket, send the snapshot and the replay, and keep it for the live tail. */
  acceptWebSocket(snapshot: TaskSnapshot, replay: readonly TaskEvent[], closeAfter: boolean): Response {
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ messages: 0 });
    server.send(JSON.stringify({ type: 'snapshot', snapshot } satisfies WireMessage));
    for (const event of replay) server.send(JSON.stringify({ type: 'event', event } satisfies WireMessage));
    if (closeAfter) server.close(1000, 'task ended');
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Open an SSE stream with the snapshot and the replay; it stays open for the live tail. */
  openEventStream(snapshot: TaskSnapshot, replay: readonly TaskEvent[], closeAfter: boolean): Response {
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    void writer.write(sseFrame({ type: 'snapshot', snapshot }));
    for (const event of replay) void writer.write(sseFrame({ type: 'event', event }));
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

  /** Send one event to every subscriber. */
  broadcast(event: TaskEvent): void {
    const text = JSON.stringify({ type: 'event', event } satisfies WireMessage);
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(text);
      } catch {
        /* a socket that is closing; webSocketClose cleans up */
      }
    }
    if (this.sse.size > 0) {
      const frame = sseFrame({ type: 'event', event });
      for (const writer of this.sse) {
        writer.write(frame).catch(() => this.sse.delete(writer));
      }
    }
  }

  /**
   * End every subscription normally (the task ended or was deleted).
   *
   * Why clients should stop at the terminal status event rather than wait for `close`: under workerd
   * (wrangler dev), the TCP connection lingers about 10 s after the close handshake has completed,
   * whichever side starts it and with or without wrangler's proxy in front (measured with a raw
   * socket against the runtime's own port), so a client's `close` event arrives that much later.
   * Nothing in how the object closes changes that; the terminal status event is always sent first.
   */
  closeAll(reason: string): void {
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
