/**
 * Tenants: with API_KEYS configured, every /api route needs `Authorization: Bearer <key>` and the
 * tenant is a hash of the key (the key itself is never stored or logged). Without it, one tenant
 * named `local`.
 */
import { createMiddleware } from 'hono/factory';
import { ClipyardError } from '../protocol/errors.ts';
import { timingSafeEqual } from '../lib/links.ts';

export type AppEnv = { Bindings: Env; Variables: { tenant: string } };

async function tenantOf(key: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`clipyard-tenant\n${key}`));
  return `k_${Array.from(new Uint8Array(digest).slice(0, 12), (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export const requireTenant = createMiddleware<AppEnv>(async (c, next) => {
  const keys = (c.env.API_KEYS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  if (keys.length === 0) {
    c.set('tenant', 'local');
    return next();
  }
  const header = c.req.header('authorization') ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  const given = match?.[1] ?? new URL(c.req.url).searchParams.get('key') ?? '';
  if (!given || !keys.some((k) => timingSafeEqual(k, given))) {
    throw new ClipyardError('auth.required', 'a valid API key is required (Authorization: Bearer <key>)', {
      status: 401,
    });
  }
  c.set('tenant', await tenantOf(given));
  return next();
});
