/**
 * The tenant of an API key is remembered per isolate (src/worker/auth.ts): the same tenant as the
 * hash gives, at most TENANT_CACHE_SIZE keys kept (the oldest leaves first), and a key that stops
 * being configured is refused even though its tenant is remembered.
 */
import { createExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { cachedTenantCount, cachedTenantOf, TENANT_CACHE_SIZE, tenantOf } from '../../src/worker/auth.ts';
import worker from '../../src/worker/index.ts';
import { ORIGIN } from './helpers.ts';

describe('the tenant of a key, remembered per isolate', () => {
  it('is the hash tenantOf gives, first time and later', async () => {
    const key = 'key-cache-3f9a1c7e5b';
    const want = await tenantOf(key);
    expect(await cachedTenantOf(key)).toBe(want);
    expect(await cachedTenantOf(key)).toBe(want);
  });

  it('keeps at most TENANT_CACHE_SIZE keys, the newest', async () => {
    const keys = Array.from({ length: TENANT_CACHE_SIZE * 2 }, (_, i) => `key-bound-${i}`);
    for (const k of keys) await cachedTenantOf(k);
    expect(cachedTenantCount()).toBe(TENANT_CACHE_SIZE);
    // every answer is still the key's own hash, whether it was remembered or computed again
    for (const k of [keys[0]!, keys.at(-1)!]) expect(await cachedTenantOf(k)).toBe(await tenantOf(k));
    expect(cachedTenantCount()).toBe(TENANT_CACHE_SIZE);
  });

  it('refuses a key that is no longer configured, though its tenant is remembered', async () => {
    const key = 'key-revoked-8d2b6f0a4c';
    const call = (keys: string) =>
      worker.fetch(
        new Request(`${ORIGIN}/api/tasks?limit=1`, { headers: { authorization: `Bearer ${key}` } }),
        { ...env, API_KEYS: keys } as Env,
        createExecutionContext(),
      );
    const first = await call(`${key},key-other-1a2b3c4d5e`);
    expect(first.status).toBe(200);
    await first.body?.cancel();
    const later = await call('key-other-1a2b3c4d5e');
    expect(later.status).toBe(401);
    await later.body?.cancel();
  });
});
