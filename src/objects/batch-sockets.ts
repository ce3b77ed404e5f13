/**
 * Live subscribers of one batch: hibernatable WebSockets and Server-Sent Event streams, with the same
 * contract as a task's (task-sockets.ts): a snapshot first, then every event with seq > `after`, then
 * the live tail, replay and registration in one synchronous turn so nothing slips between them.
 *
 * Used only by BatchObject.
 */
import type { BatchEvent, BatchSnapshot, BatchWireMessage } from '../protocol/batch.ts';

const encoder = new TextEncoder();
/** A WebSocket client may send at most this many messages per connection (it only needs pings). */
const MAX_CLIENT_MESSAGES = 1_000;

function sseFrame(message: BatchWireMessage): Uint8Array {
  const id = message.type === 'event' ? `id: ${message.event.seq}\n` : '';
  return encoder.encode(`${id}event: ${message.type}\ndata: ${JSON.stringify(message)}\n\n`);
}

export class BatchSockets {
  private readonly ctx: DurableObjectState;
  private readonly sse = new Set<WritableStreamDefaultWriter<Uint8Array>>();

  constructor(ctx: DurableObjectState) {
    this.ctx = ctx;
    // Answered by the runtime without waking a hibernated object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
  }

  acceptWebSocket(snapshot: BatchSnapshot, replay: readonly BatchEvent[], closeAfter: boolean): Response {
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ messages: 0 });
    server.send(JSON.stringify({ type: 'snapshot', snapshot } satisfies BatchWireMessage));
    for (const event of replay) server.send(JSON.stringify({ type: 'event', event } satisfies BatchWireMessage));
    if (closeAfter) server.close(1000, 'batch finished');
    return new Response(null, { status: 101, webSocket: client });
  }

  openEventStream(snapshot: BatchSnapshot, replay: readonly BatchEvent[], closeAfter: boolean): Response {
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

  broadcast(events: readonly BatchEvent[]): void {
    if (events.length === 0) return;
    const texts = events.map((event) => JSON.stringify({ type: 'event', event } satisfies BatchWireMessage));
    for (const ws of this.ctx.getWebSockets()) {
      try {
        for (const text of texts) ws.send(text);
      } catch {
        /* a socket that is closing; webSocketClose cleans up */
      }
    }
    if (this.sse.size > 0) {
      const frames = events.map((event) => sseFrame({ type: 'event', event }));
      for (const writer of this.sse) {
        for (const frame of frames) writer.write(frame).catch(() => this.sse.delete(writer));
      }
    }
  }

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

  /** Count a client message; false when the client exceeded its allowance. */
  countClientMessage(ws: WebSocket): boolean {
    const state = (ws.deserializeAttachment() as { messages?: number } | null) ?? {};
    const messages = (state.messages ?? 0) + 1;
    ws.serializeAttachment({ ...state, messages });
    return messages <= MAX_CLIENT_MESSAGES;
  }
}
