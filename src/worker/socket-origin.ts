/**
 * Origin check for event subscriptions (WebSocket and SSE). Browsers always send `Origin` on a
 * WebSocket handshake and on cross-origin EventSource requests; with ALLOWED_ORIGINS configured,
 * a page from any other origin (than those listed and the API's own) is refused with 403
 * socket.origin before the handshake reaches the task. Clients that are not browsers send no Origin
 * and are judged by their API key alone.
 */
import { createMiddleware } from 'hono/factory';
import { socketConfig } from '../objects/config.ts';
import { ClipyardError } from '../protocol/errors.ts';
import type { AppEnv } from './auth.ts';

export const checkSocketOrigin = createMiddleware<AppEnv>(async (c, next) => {
  const origin = c.req.header('origin');
  const { allowedOrigins } = socketConfig(c.env);
  if (origin !== undefined && allowedOrigins.length > 0) {
    const given = origin.trim().toLowerCase();
    const own = new URL(c.req.url).origin.toLowerCase();
    if (given !== own && !allowedOrigins.includes(given)) {
      throw new ClipyardError('socket.origin', `pages from ${origin.slice(0, 100)} may not subscribe here`, {
        status: 403,
      });
    }
  }
  return next();
});
