/**
 * Webhooks inside workerd: the task's and the batch's outbox against a scripted receiver
 * (fake-receiver.ts). Signatures are checked with the published `standardwebhooks` package; retries
 * are driven by the objects' own alarms (runDurableObjectAlarm fires one at once).
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import type { BatchSnapshot } from '../../src/protocol/batch.ts';
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import type { WebhookPayload } from '../../src/protocol/webhook.ts';
import { call, createTask } from './helpers.ts';

interface Received {
  path: string;
  id: string;
  timestamp: string;
  signature: string;
  body: string;
}

const STEPS = [{ op: 'audio', format: 'mp3' }];
let n = 0;
const key = (name: string) => `${name}-${Date.now()}-${n++}`;

async function received(k: string): Promise<Received[]> {
  return (await (await fetch(`http://hooks.test/_log/${k}`)).json()) as Received[];
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function secret(): Promise<string> {
  const res = await call('/api/webhooks/secret');
  expect(res.status).toBe(200);
  return ((await res.json()) as { secret: string }).secret;
}

async function task(id: string): Promise<TaskSnapshot> {
  return (await (await call(`/api/tasks/${id}`)).json()) as TaskSnapshot;
}

/** A task that ends at once (canceled), with a webhook to the receiver's `path`. */
async function canceledTask(path: string): Promise<string> {
  const { res, json } = await createTask({
    input: { url: 'http://127.0.0.1:9/media.mp4' },
    steps: STEPS,
    webhook: { url: `http://hooks.test${path}` },
  });
  expect(res.status).toBe(202);
  expect((await call(`/api/tasks/${json.id}/cancel`, { method: 'POST' })).status).toBe(200);
  return json.id;
}

describe('task webhooks', () => {
  it('retries a 500 with the same webhook-id until a 200, every attempt signed and in the snapshot', async () => {
    const k = key('fail2');
    const wh = new Webhook(await secret());
    const id = await canceledTask(`/fail2/${k}`);
    const stub = env.TASKS.getByName(id);
    const got = await until(
      async () => {
        await runDurableObjectAlarm(stub);
        return received(k);
      },
      (r) => r.length >= 3,
    );
    expect(got).toHaveLength(3);
    expect(new Set(got.map((r) => r.id)).size).toBe(1);
    for (const r of got) {
      const payload = wh.verify(r.body, {
        'webhook-id': r.id,
        'webhook-timestamp': r.timestamp,
        'webhook-signature': r.signature,
      }) as WebhookPayload<TaskSnapshot>;
      expect(payload.type).toBe('task.canceled');
      expect(payload.data.id).toBe(id);
      expect(payload.data.status).toBe('canceled');
    }
    const snap = await until(
      () => task(id),
      (s) => s.webhooks?.[0]?.state === 'delivered',
    );
    const [delivery] = snap.webhooks!;
    expect(delivery!.id).toBe(got[0]!.id);
    expect(delivery!.attempts.map((a) => a.status)).toEqual([500, 500, 200]);
    expect(delivery!.attempts[0]!.error?.code).toBe('webhook.http_status');
    expect(delivery!.attempts[2]!.error).toBeNull();
    // nothing more after the success
    await runDurableObjectAlarm(stub);
    expect(await received(k)).toHaveLength(3);
  });

  it('stops at a 410, and never follows a redirect', async () => {
    const gone = key('gone');
    const goneId = await canceledTask(`/gone/${gone}`);
    const snap = await until(
      () => task(goneId),
      (s) => s.webhooks?.[0]?.state === 'gone',
    );
    expect(snap.webhooks![0]!.attempts).toHaveLength(1);
    await runDurableObjectAlarm(env.TASKS.getByName(goneId));
    expect(await received(gone)).toHaveLength(1);

    const moved = key('redirect');
    const movedId = await canceledTask(`/redirect/${moved}`);
    const r = await until(
      () => task(movedId),
      (s) => (s.webhooks?.[0]?.attempts.length ?? 0) >= 1,
    );
    expect(r.webhooks![0]!.attempts[0]!.error?.code).toBe('webhook.redirect');
    expect((await received(moved)).map((x) => x.path)).not.toContain(`/ok/${moved}`);
  });

  it('refuses a private target when the task is created, with the input URL code', async () => {
    const { res, json } = await createTask({
      input: { url: 'http://127.0.0.1:9/media.mp4' },
      steps: STEPS,
      webhook: { url: 'http://10.1.2.3/hook' },
    });
    expect(res.status).toBe(400);
    const err = (json as unknown as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('input.url.private');
    expect(err.message).toMatch(/^webhook\.url/);
  });

  it('delivers nothing more once the task is deleted', async () => {
    const k = key('fail');
    const id = await canceledTask(`/fail/${k}`);
    await until(
      () => received(k),
      (r) => r.length >= 1,
    );
    expect((await call(`/api/tasks/${id}`, { method: 'DELETE' })).status).toBe(204);
    const after = (await received(k)).length;
    await runDurableObjectAlarm(env.TASKS.getByName(id));
    await new Promise((r) => setTimeout(r, 400));
    expect((await received(k)).length).toBe(after);
    await runInDurableObject(env.TASKS.getByName(id), (_o, state) => {
      // a deleted task's storage starts over: no outbox tables at all (they come with a target)
      const sql = state.storage.sql;
      const table = sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'webhook_deliveries'").toArray().length;
      const left = table ? sql.exec<{ c: number }>('SELECT COUNT(*) AS c FROM webhook_deliveries').one().c : 0;
      expect(left).toBe(0);
    });
  });

  it('signs with both secrets during a rotation, and the tenant default applies', async () => {
    const old = await secret();
    const rotated = await call('/api/webhooks/secret/rotate', { method: 'POST' });
    const body = (await rotated.json()) as { secret: string; previous: { retiresAt: number }[] };
    expect(body.secret).not.toBe(old);
    expect(body.secret).toMatch(/^whsec_/);
    expect(body.previous[0]!.retiresAt).toBeGreaterThan(Date.now());
    const k = key('ok');
    const put = await call('/api/webhooks/default', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ webhook: { url: `http://hooks.test/ok/${k}`, events: ['task.canceled'] } }),
    });
    expect(put.status).toBe(200);
    try {
      const { json } = await createTask({ input: { url: 'http://127.0.0.1:9/media.mp4' }, steps: STEPS });
      await call(`/api/tasks/${json.id}/cancel`, { method: 'POST' });
      const [r] = await until(
        () => received(k),
        (x) => x.length >= 1,
      );
      expect(r!.signature.split(' ')).toHaveLength(2);
      const headers = { 'webhook-id': r!.id, 'webhook-timestamp': r!.timestamp, 'webhook-signature': r!.signature };
      expect(() => new Webhook(old).verify(r!.body, headers)).not.toThrow();
      expect(() => new Webhook(body.secret).verify(r!.body, headers)).not.toThrow();
    } finally {
      await call('/api/webhooks/default', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ webhook: null }),
      });
    }
  });
});

describe('batch webhooks', () => {
  it('delivers batch.finished with the batch snapshot', async () => {
    const k = key('ok');
    const wh = new Webhook(await secret());
    const res = await call('/api/batches', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        tasks: [{ input: { url: 'http://127.0.0.1:9/a.mp4' }, steps: STEPS }],
        webhook: { url: `http://hooks.test/ok/${k}` },
      }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    expect((await call(`/api/batches/${id}/cancel`, { method: 'POST' })).status).toBe(200);
    const [r] = await until(
      async () => {
        await runDurableObjectAlarm(env.BATCHES.getByName(id));
        return received(k);
      },
      (x) => x.length >= 1,
    );
    const headers = { 'webhook-id': r!.id, 'webhook-timestamp': r!.timestamp, 'webhook-signature': r!.signature };
    const payload = wh.verify(r!.body, headers) as WebhookPayload<BatchSnapshot>;
    expect(payload.type).toBe('batch.finished');
    expect(payload.data.id).toBe(id);
    expect(payload.data.status).toBe('canceled');
    const snap = (await (await call(`/api/batches/${id}`)).json()) as BatchSnapshot;
    expect(snap.webhooks?.[0]?.state).toBe('delivered');
  });

  it('a child delivers its own task event only when its body names a webhook; a bad one names the task', async () => {
    const k = key('ok');
    const body = (webhook?: unknown) => ({
      input: { url: 'http://127.0.0.1:9/a.mp4' },
      steps: STEPS,
      ...(webhook ? { webhook } : {}),
    });
    const refused = await call('/api/batches', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tasks: [body(), body({ url: 'http://192.168.1.1/x' })] }),
    });
    expect(refused.status).toBe(400);
    const err = ((await refused.json()) as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('input.url.private');
    expect(err.message).toMatch(/^tasks\[1\]\.webhook\.url/);

    const res = await call('/api/batches', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tasks: [body({ url: `http://hooks.test/ok/${k}` }), body()] }),
    });
    const { id, taskIds } = (await res.json()) as { id: string; taskIds: string[] };
    await call(`/api/batches/${id}/cancel`, { method: 'POST' });
    const got = await until(
      () => received(k),
      (x) => x.length >= 1,
    );
    expect(JSON.parse(got[0]!.body)).toMatchObject({ type: 'task.canceled', data: { id: taskIds[0] } });
    expect((await task(taskIds[1]!)).webhooks).toBeUndefined();
  });
});
