/**
 * /api/webhooks: the tenant's webhook signing secret (read and rotate) and its default target.
 *
 * Deliveries are signed per Standard Webhooks with the secret read here; after a rotation the old
 * secret keeps signing alongside the new one for WEBHOOK_SECRET_OVERLAP_SECONDS, so a receiver has
 * that long to switch.
 */
import { Hono } from 'hono';
import { webhookConfig } from '../../objects/config.ts';
import { webhookDefaultSchema } from '../../protocol/webhook.ts';
import type { AppEnv } from '../auth.ts';
import { jsonBody } from '../validate.ts';
import { checkWebhookTarget, forgetDefault } from '../webhook-target.ts';

export const webhooks = new Hono<AppEnv>();

function overlapOf(env: Env) {
  return Math.round(webhookConfig(env).secretOverlapMs / 1000);
}

webhooks.get('/secret', async (c) => {
  const info = await c.env.TENANTS.getByName(c.get('tenant')).webhookSecret();
  return c.json({
    secret: info.secret,
    createdAt: info.createdAt,
    previous: info.previous,
    overlapSeconds: overlapOf(c.env),
  });
});

webhooks.post('/secret/rotate', async (c) => {
  const info = await c.env.TENANTS.getByName(c.get('tenant')).rotateWebhookSecret(webhookConfig(c.env).secretOverlapMs);
  return c.json({
    secret: info.secret,
    createdAt: info.createdAt,
    previous: info.previous,
    overlapSeconds: overlapOf(c.env),
  });
});

webhooks.get('/default', async (c) => {
  return c.json({ webhook: await c.env.TENANTS.getByName(c.get('tenant')).webhookDefault() });
});

webhooks.put('/default', async (c) => {
  const { webhook } = await jsonBody(c.req.raw, webhookDefaultSchema);
  const target = webhook ? checkWebhookTarget(c.env, webhook) : null;
  await c.env.TENANTS.getByName(c.get('tenant')).setWebhookDefault(target);
  forgetDefault(c.get('tenant'));
  return c.json({ webhook: target });
});
