/** Webhook signing (checked against the published standardwebhooks package) and the retry schedule. */
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_WEBHOOK_DELAYS_MS,
  nextAttemptAt,
  parseWebhookDelays,
  verdictOf,
} from '../../src/lib/webhook-schedule.ts';
import { isWebhookSecret, newWebhookSecret, verifyWebhook, webhookHeaders } from '../../src/lib/webhook-signature.ts';

describe('webhook signatures', () => {
  it('match what the standardwebhooks library signs, and verify there', async () => {
    const secret = newWebhookSecret();
    expect(isWebhookSecret(secret)).toBe(true);
    const body = JSON.stringify({ type: 'task.succeeded', data: { id: 'x' } });
    const ts = Math.floor(Date.now() / 1000);
    const h = await webhookHeaders([secret], 'msg_1', ts, body);
    const lib = new Webhook(secret);
    expect(h['webhook-signature']).toBe(lib.sign('msg_1', new Date(ts * 1000), body));
    expect(lib.verify(body, h)).toEqual(JSON.parse(body));
  });

  it('carry one signature per secret during a rotation; either secret verifies, a stranger does not', async () => {
    const [a, b, stranger] = [newWebhookSecret(), newWebhookSecret(), newWebhookSecret()];
    const ts = Math.floor(Date.now() / 1000);
    const h = await webhookHeaders([b, a], 'msg_2', ts, '{}');
    expect(h['webhook-signature'].split(' ')).toHaveLength(2);
    for (const s of [a, b]) expect(() => new Webhook(s).verify('{}', h)).not.toThrow();
    expect(() => new Webhook(stranger).verify('{}', h)).toThrow();
    const parts = { id: 'msg_2', timestamp: String(ts), signature: h['webhook-signature'] };
    expect(await verifyWebhook(a, parts, '{}')).toBe(true);
    expect(await verifyWebhook(a, parts, '{"tampered":1}')).toBe(false);
  });
});

describe('webhook retry schedule', () => {
  it('makes 8 attempts spread over more than a day, then gives up', () => {
    const delays = [...DEFAULT_WEBHOOK_DELAYS_MS];
    let at = 0;
    let attempts = 1;
    for (;;) {
      const next = nextAttemptAt(attempts, at, delays);
      if (next === null) break;
      at = next;
      attempts++;
    }
    expect(attempts).toBe(8);
    expect(at).toBeGreaterThan(24 * 3_600_000);
    expect(delays[0]).toBe(5_000);
    expect(Math.max(...delays)).toBe(36_000_000);
  });

  it('counts 2xx as delivered, 410 as gone, anything else (or no answer) as worth another try', () => {
    expect([200, 204, 299].map(verdictOf)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(verdictOf(410)).toBe('gone');
    expect([301, 400, 404, 429, 500, null].map(verdictOf)).toEqual(Array(6).fill('retry'));
  });

  it('reads WEBHOOK_RETRY_DELAYS_MS, falling back to the default on junk', () => {
    expect(parseWebhookDelays('100, 200')).toEqual([100, 200]);
    expect(parseWebhookDelays('1,x')).toEqual([...DEFAULT_WEBHOOK_DELAYS_MS]);
    expect(parseWebhookDelays(undefined)).toEqual([...DEFAULT_WEBHOOK_DELAYS_MS]);
  });
});
