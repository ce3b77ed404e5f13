/**
 * Limits on a task's WebSocket subscribers, applied by the TaskObject: a client may only send small
 * messages (it needs nothing but "ping"), and a client that has shown no sign of life for the idle
 * timeout is dropped, so abandoned tabs and half-open connections do not pile up on a task.
 *
 * Signs of life: a message the object saw (stamped into the socket's attachment), or a "ping" the
 * runtime answered by itself (the auto-response timestamp; those never wake the object). A socket
 * first seen by the idle sweep is stamped then, so a client is never dropped sooner than the timeout.
 */

/** Largest message a subscriber may send, in bytes. */
export const MAX_CLIENT_MESSAGE_BYTES = 1_024;
/** Close codes: 1009 message too big, 4008 idle (application range, so clients can tell). */
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_IDLE = 4008;

type Attachment = { messages?: number; seenAt?: number } & Record<string, unknown>;

function attachment(ws: WebSocket): Attachment {
  return (ws.deserializeAttachment() as Attachment | null) ?? {};
}

/** Stamp a message as a sign of life; false when the message is too big to accept. */
export function noteClientMessage(ws: WebSocket, message: string | ArrayBuffer, nowMs: number): boolean {
  const bytes = typeof message === 'string' ? new TextEncoder().encode(message).length : message.byteLength;
  ws.serializeAttachment({ ...attachment(ws), seenAt: nowMs });
  return bytes <= MAX_CLIENT_MESSAGE_BYTES;
}

/** Close the sockets idle for longer than `idleMs`; returns how many were closed. */
export function dropIdleSockets(ctx: DurableObjectState, nowMs: number, idleMs: number): number {
  let closed = 0;
  for (const ws of ctx.getWebSockets()) {
    const state = attachment(ws);
    const pinged = ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
    if (state.seenAt === undefined) {
      ws.serializeAttachment({ ...state, seenAt: nowMs });
      continue;
    }
    if (nowMs - Math.max(state.seenAt, pinged) <= idleMs) continue;
    try {
      ws.close(CLOSE_IDLE, 'idle: send "ping" at least every minute to stay subscribed');
      closed++;
    } catch {
      /* already closing */
    }
  }
  return closed;
}
