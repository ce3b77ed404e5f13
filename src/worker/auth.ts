/**
 * Tenants: with API_KEYS configured, every /api route needs `Authorization: Bearer <key>` and the
 * tenant is a hash of the key (the key itself is never stored or logged). Without it, one tenant
 * named `local`.
 *
 * Browsers cannot set headers on a WebSocket or an EventSource, so event subscriptions (and only
 * they) may carry the key as `?key=`; anywhere else a key in the URL would end up in logs and
 * Referer headers, so it is ignored there. Every configured key is compared (in constant time),
 * whichever matches, so the time taken says nothing about which key was close.
 */
import { createMiddleware } from 'hono/factory';
import { timingSafeEqual } from '../lib/links.ts';
import { ClipyardError } from '../protocol/errors.ts';

export type AppEnv = { Bindings: Env; Variables: { tenant: string } };

/** The tenant id of an API key: a hash, so the key itself is never stored. */
export async function tenantOf(key: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`clipyard-tenant\n${key}`));
  return `k_${Array.from(new Uint8Array(digest).slice(0, 12), (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Most keys whose tenant one isolate remembers (only configured keys that matched are ever hashed). */
export const TENANT_CACHE_SIZE = 64;
/** key -> tenant, per isolate: a request of a known key hashes nothing; the oldest entry leaves first. */
const tenants = new Map<string, string>();

/** tenantOf, remembered per isolate for up to TENANT_CACHE_SIZE keys. */
export async function cachedTenantOf(key: string): Promise<string> {
  const known = tenants.get(key);
  if (known !== undefined) return known;
  const tenant = await tenantOf(key);
  if (tenants.size >= TENANT_CACHE_SIZE) tenants.delete(tenants.keys().next().value as string);
  tenants.set(key, tenant);
  return tenant;
}

/** How many keys this isolate remembers (tests). */
export function cachedTenantCount(): number {
  return tenants.size;
}

/** API_KEYS parsed once per value of it. */
let parsedKeys: { from: string; keys: string[] } = { from: '', keys: [] };
function apiKeys(env: Env): string[] {
  const raw = env.API_KEYS ?? '';
  if (parsedKeys.from !== raw) {
    parsedKeys = {
      from: raw,
      keys: raw
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean),
    };
  }
  return parsedKeys.keys;
}

/** Longest key accepted for comparison; anything longer is not a key. */
const MAX_KEY_LENGTH = 512;

/** Subscriptions, the only requests that may carry the key in the query string. */
function isSubscription(request: Request): boolean {
  // Browsers cannot set headers on a WebSocket or on a plain download link: task and batch event
  // streams, and a batch's archive (a link the page offers), may carry the key as `?key=`.
  return (
    request.method === 'GET' &&
    /^\/api\/(tasks\/[^/]+\/events|batches\/[^/]+\/(events|archive))$/.test(new URL(request.url).pathname)
  );
}

type Resolution = { tenant: string } | { error: 'missing' | 'invalid' };

/** The tenant a request speaks for: `local` without keys; an error when keys are set and none matched. */
async function resolveTenant(env: Env, request: Request): Promise<Resolution> {
  const keys = apiKeys(env);
  if (keys.length === 0) return { tenant: 'local' };
  const header = request.headers.get('authorization');
  const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '')?.[1];
  const fromQuery = isSubscription(request) ? new URL(request.url).searchParams.get('key') : null;
  const given = bearer ?? fromQuery ?? '';
  if (!given) return { error: header ? 'invalid' : 'missing' };
  if (given.length > MAX_KEY_LENGTH) return { error: 'invalid' };
  let matched = false;
  for (const k of keys) matched = timingSafeEqual(k, given) || matched;
  return matched ? { tenant: await cachedTenantOf(given) } : { error: 'invalid' };
}

/** For routes anyone may call (health): sets `tenant` to '' when the caller is anonymous. */
export const optionalTenant = createMiddleware<AppEnv>(async (c, next) => {
  const r = await resolveTenant(c.env, c.req.raw);
  c.set('tenant', 'tenant' in r ? r.tenant : '');
  return next();
});

export const requireTenant = createMiddleware<AppEnv>(async (c, next) => {
  const r = await resolveTenant(c.env, c.req.raw);
  if ('error' in r) {
    const [code, message] =
      r.error === 'missing'
        ? (['auth.required', 'an API key is required (Authorization: Bearer <key>)'] as const)
        : (['auth.invalid', 'this API key is not valid'] as const);
    c.header('www-authenticate', 'Bearer realm="clipyard"');
    throw new ClipyardError(code, message, { status: 401 });
  }
  c.set('tenant', r.tenant);
  return next();
});
