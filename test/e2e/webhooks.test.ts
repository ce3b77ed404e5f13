/**
 * Webhooks end to end: a wrangler dev of its own (short retry delays, a short attempt timeout) with the
 * suite's real runner, and a receiver that verifies every signature with the `standardwebhooks`
 * package. Covers retries with one webhook-id, a receiver that never answers, a 410, a private
 * target, and a Worker restart while a retry is pending.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
// @ts-expect-error plain ESM helper shared with `npm start`
import { freePort, startWorker, stopProcess } from '../../scripts/system.mjs';
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import { mediaUrl } from './client.ts';
import { type Receiver, startReceiver } from './webhook-receiver.ts';

/** 500, 500 come 300 ms apart; the third attempt waits 4 s, long enough to restart the Worker. */
const VARS = { WEBHOOK_RETRY_DELAYS_MS: '300,4000,4000', WEBHOOK_TIMEOUT_MS: '1500' };

let receiver: Receiver;
let base = '';
let stateDir = '';
let port = 0;
let worker: unknown;

async function start(): Promise<void> {
  worker = await startWorker({
    port,
    runnerUrl: inject('runnerUrl'),
    allowHosts: '127.0.0.1',
    persistTo: stateDir,
    vars: VARS,
  });
}

async function createTask(webhookPath: string, steps: unknown[] = [{ op: 'probe' }]) {
  return fetch(`${base}/api/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      input: { url: mediaUrl('clip.mp4') },
      steps,
      webhook: { url: `${receiver.base}${webhookPath}` },
    }),
  });
}

async function until<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const task = async (id: string) => (await (await fetch(`${base}/api/tasks/${id}`)).json()) as TaskSnapshot;
const at = (p: string) => receiver.deliveries.filter((d) => d.path === p);

beforeAll(async () => {
  receiver = await startReceiver();
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-webhooks-'));
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await start();
  const res = await fetch(`${base}/api/webhooks/secret`);
  receiver.setSecret(((await res.json()) as { secret: string }).secret);
});

afterAll(async () => {
  await stopProcess(worker);
  await receiver.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('webhooks against the real system', () => {
  it('a finished task is delivered signed; 500 twice then 200 is three attempts with one webhook-id', async () => {
    const res = await createTask('/fail2/a', [{ op: 'audio', format: 'mp3' }]);
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const got = await until(
      () => at('/fail2/a'),
      (d) => d.length >= 3,
    );
    expect(got.every((d) => d.verified)).toBe(true);
    expect(new Set(got.map((d) => d.id)).size).toBe(1);
    expect(got[0]!.payload).toMatchObject({ type: 'task.succeeded', data: { id, status: 'succeeded' } });
    const snap = await until(
      () => task(id),
      (s) => s.webhooks?.[0]?.state === 'delivered',
    );
    expect(snap.webhooks![0]!.attempts.map((a) => a.status)).toEqual([500, 500, 200]);
  });

  it('a receiver that never answers times out and is tried again', async () => {
    const { id } = (await (await createTask('/hang/b')).json()) as { id: string };
    const snap = await until(
      () => task(id),
      (s) => (s.webhooks?.[0]?.attempts.length ?? 0) >= 1,
    );
    const [attempt] = snap.webhooks![0]!.attempts;
    expect(attempt!.status).toBeNull();
    expect(attempt!.error?.code).toBe('webhook.timeout');
    expect(snap.webhooks![0]!.state).toBe('pending');
  });

  it('a 410 stops the deliveries at once', async () => {
    const { id } = (await (await createTask('/gone/c')).json()) as { id: string };
    const snap = await until(
      () => task(id),
      (s) => s.webhooks?.[0]?.state === 'gone',
    );
    expect(snap.webhooks![0]!.attempts).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 800));
    expect(at('/gone/c')).toHaveLength(1);
  });

  it('a private-network target is refused when the task is created', async () => {
    for (const url of ['http://10.0.0.7/hook', 'http://169.254.169.254/latest', 'http://localhost:9/x']) {
      const res = await fetch(`${base}/api/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: { url: mediaUrl('clip.mp4') }, steps: [{ op: 'probe' }], webhook: { url } }),
      });
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('input.url.private');
      expect(error.message).toMatch(/^webhook\.url/);
    }
  });

  it('a retry pending across a Worker restart is still delivered, with the same webhook-id', async () => {
    const { id } = (await (await createTask('/fail2/d')).json()) as { id: string };
    await until(
      () => at('/fail2/d'),
      (d) => d.length >= 2,
    );
    await stopProcess(worker);
    const whileDown = at('/fail2/d').length;
    await start();
    const got = await until(
      () => at('/fail2/d'),
      (d) => d.length >= 3,
    );
    expect(whileDown).toBe(2);
    expect(new Set(got.map((d) => d.id)).size).toBe(1);
    expect(got.every((d) => d.verified)).toBe(true);
    expect((await task(id)).webhooks![0]!.state).toBe('delivered');
  });
});
