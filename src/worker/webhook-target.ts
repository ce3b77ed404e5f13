/**
 * The webhook a new task or batch will deliver to: the one its body names, checked against the same
 * SSRF rules as inputs (a private target is refused with its input.url.* code), or else the tenant's
 * default. Used by the task and batch create routes.
 *
 * The default is cached per isolate for DEFAULT_CACHE_MS, so creating tasks does not add a call to
 * the (already busy) tenant object each time; a change reaches other isolates within that time.
 */
import { checkUrl } from '../lib/url-safety.ts';
import { allowHosts } from '../objects/config.ts';
import { ClipyardError } from '../protocol/errors.ts';
import type { WebhookTarget } from '../protocol/webhook.ts';

const DEFAULT_CACHE_MS = 10_000;
const defaults = new Map<string, { target: WebhookTarget | null; at: number }>();

/** Forget this isolate's cached default for a tenant (after it was changed here). */
export function forgetDefault(tenant: string): void {
  defaults.delete(tenant);
}

/** A target with its URL checked and normalized; throws the refusal (400) when it may not be used. */
export function checkWebhookTarget(env: Env, target: WebhookTarget, at = 'webhook'): WebhookTarget {
  const check = checkUrl(target.url, allowHosts(env));
  if (!check.ok) throw new ClipyardError(check.code, `${at}.url: ${check.message}`, { status: 400 });
  return { ...target, url: check.url.href };
}

/**
 * The target to use: `given` (checked), or with `useDefault` the tenant's default, or null.
 * Children of a batch pass useDefault=false: the batch's own event covers them.
 */
export async function resolveWebhook(
  env: Env,
  tenant: string,
  given: WebhookTarget | undefined,
  useDefault = true,
): Promise<WebhookTarget | null> {
  if (given) return checkWebhookTarget(env, given);
  if (!useDefault) return null;
  const now = Date.now();
  const cached = defaults.get(tenant);
  if (cached && now - cached.at < DEFAULT_CACHE_MS) return cached.target;
  const target = await env.TENANTS.getByName(tenant).webhookDefault();
  if (defaults.size > 1_000) defaults.clear();
  defaults.set(tenant, { target, at: now });
  return target;
}
