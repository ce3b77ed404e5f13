/**
 * The webhook a new task or batch will deliver to: the one its body names, checked against the same
 * SSRF rules as inputs (a private target is refused with its input.url.* code), or else the tenant's
 * default. Used by the task and batch create routes.
 */
import { checkUrl } from '../lib/url-safety.ts';
import { allowHosts } from '../objects/config.ts';
import { ClipyardError } from '../protocol/errors.ts';
import type { WebhookTarget } from '../protocol/webhook.ts';

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
  return env.TENANTS.getByName(tenant).webhookDefault();
}
