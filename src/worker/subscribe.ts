/**
 * Forward a subscription (WebSocket upgrade, or SSE with Accept: text/event-stream) to the object
 * that owns the event log, telling it who is asking. Used by the task and batch routes.
 */
import type { Context } from 'hono';
import { ClipyardError } from '../protocol/errors.ts';
import type { AppEnv } from './auth.ts';

export function forwardSubscription(c: Context<AppEnv>, stub: { fetch(request: Request): Promise<Response> }) {
  const upgrade = c.req.header('upgrade')?.toLowerCase() === 'websocket';
  const sse = (c.req.header('accept') ?? '').includes('text/event-stream');
  if (!upgrade && !sse) {
    throw new ClipyardError('request.invalid', 'subscribe with a WebSocket upgrade or Accept: text/event-stream', {
      status: 426,
    });
  }
  const headers = new Headers(c.req.raw.headers);
  headers.set('x-clipyard-tenant', c.get('tenant'));
  headers.set('x-clipyard-origin', new URL(c.req.url).origin);
  return stub.fetch(new Request(c.req.url, { method: 'GET', headers }));
}
