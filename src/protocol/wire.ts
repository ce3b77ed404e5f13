/**
 * The subscription wire format shared by task and batch streams: a snapshot, then numbered events.
 * One parser for both, with no dependencies (the page imports it without bundling zod); it returns
 * null on junk so a client never breaks on a message it does not understand.
 */

export type SubscriptionMessage<S, E> = { type: 'snapshot'; snapshot: S } | { type: 'event'; event: E };

/** Parse one WebSocket message (or SSE data line); null on anything that is not a snapshot or an event. */
export function parseSubscriptionMessage<S, E>(data: unknown): SubscriptionMessage<S, E> | null {
  if (typeof data !== 'string') return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  if (v.type === 'snapshot' && v.snapshot && typeof v.snapshot === 'object') return v as SubscriptionMessage<S, E>;
  if (v.type === 'event' && v.event && typeof v.event === 'object') {
    const e = v.event as Record<string, unknown>;
    if (typeof e.seq === 'number' && typeof e.kind === 'string') return v as SubscriptionMessage<S, E>;
  }
  return null;
}
