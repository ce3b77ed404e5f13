/**
 * Parses the task WebSocket's messages. Mirrors `parseWireMessage` in src/protocol/task.ts, which the
 * page cannot import without bundling zod (task.ts builds its schemas at load time): same rules,
 * null on junk, so an unknown message never breaks the page.
 */
import type { WireMessage } from '../../src/protocol/task.ts';

export function parseWire(data: unknown): WireMessage | null {
  if (typeof data !== 'string') return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  if (v.type === 'snapshot' && v.snapshot && typeof v.snapshot === 'object') return v as WireMessage;
  if (v.type === 'event' && v.event && typeof v.event === 'object') {
    const e = v.event as Record<string, unknown>;
    if (typeof e.seq === 'number' && typeof e.kind === 'string') return v as WireMessage;
  }
  return null;
}
