/**
 * Tenants: with API_KEYS configured, every /api route needs `Authorization: Bearer <key>` and the
 * tenant is a hash of the key (the key itself is never stored or logged). Without it, one tenant
 * named `local`.
 */
import { createMiddleware } from 'hono/factory';
import { timingSafeEqual } from '../lib/links.ts';
import { ClipyardError } from '../protocol/errors.ts';

export type AppEnv = { Bindings: Env; Variables: { tenant: string } };

async function tenantOf(key: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`clipyard-tenant\n${key}`));
  return `k_${Array.from(new Uint8Array(digest).slice(0, 12), (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The tenant a request speaks for: `local` without keys, null when keys are set and none matched. */
async function resolveTenant(env: Env, authorization: string | undefined, url: string): Promise<string | null> {
  const keys = (env.API_KEYS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  if (keys.length === 0) return 'local';
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  const given = match?.[1] ?? new URL(url).searchParams.get('key') ?? '';
  if (!given || !keys.some((k) => timingSafeEqual(k, given))) return null;
  return tenantOf(given);
}

/** For routes anyone may call (health): sets `tenant` to '' when the caller is anonymous. */
export const optionalTenant = createMiddleware<AppEnv>(async (c, next) => {
  c.set('tenant', (await resolveTenant(c.env, c.req.header('authorization'), c.req.url)) ?? '');
  return next();
});

export const requireTenant = createMiddleware<AppEnv>(async (c, next) => {
  const tenant = await resolveTenant(c.env, c.req.header('authorization'), c.req.url);
  if (tenant === null) {
    throw new ClipyardError('auth.required', 'a valid API key is required (Authorization: Bearer <key>)', {
      status: 401,
    });
  }
  c.set('tenant', tenant);
  return next();
});
