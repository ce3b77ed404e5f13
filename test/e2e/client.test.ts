/**
 * The typed client (`clipyard/client`) against the real system: wrangler dev, the runner, ffmpeg.
 * Run, watch with progress, survive a dropped socket without missing or repeating an event,
 * cancel, upload, idempotency, delete, and errors that carry the server's codes.
 */

import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { validate } from '@readme/openapi-parser';
import { describe, expect, inject, it } from 'vitest';
import {
  Clipyard,
  ClipyardApiError,
  ClipyardConnectionError,
  type TaskEvent,
  type TaskProgress,
} from '../../src/client/index.ts';
import { baseUrl, ffprobeBytes, mediaUrl } from './client.ts';

const client = () => new Clipyard({ url: baseUrl() });

function expectInOrderOnce(events: readonly TaskEvent[]): void {
  expect(events.length).toBeGreaterThan(0);
  expect(events.map((e) => e.seq)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
}

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

describe('the typed client', () => {
  it('runs a task with progress callbacks and downloads the mp3', async () => {
    const cy = client();
    const progress: TaskProgress[] = [];
    const events: TaskEvent[] = [];
    const final = await cy.run(
      { input: { url: mediaUrl('clip.mp4') }, steps: [{ op: 'audio', format: 'mp3' }] },
      { onProgress: (p) => progress.push(p), onEvent: (e) => events.push(e) },
    );
    expect(final.status).toBe('succeeded');
    expect(final.outputs.map((o) => o.name)).toEqual(['audio.mp3']);
    expectInOrderOnce(events);
    const values = progress.map((p) => p.progress);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(progress.at(-1)!.progress).toBe(100);
    expect(progress.at(-1)!.status).toBe('succeeded');
    expect(new Set(progress.map((p) => p.stage))).toContain('extracting');

    const link = await cy.outputUrl(final.id, 'audio.mp3');
    expect(link).toMatch(/\/files\/.+\?exp=\d+&sig=/);
    const res = await cy.download(final.id, 'audio.mp3');
    expect(res.headers.get('content-type')).toBe('audio/mpeg');
    const probe = ffprobeBytes(new Uint8Array(await res.arrayBuffer()), 'mp3');
    expect(probe.streams[0]!.codec_name).toBe('mp3');
    expect(Math.abs(Number(probe.format.duration) - 10)).toBeLessThan(0.5);
  });

  it('reconnects after a dropped socket with after=<seq>, missing and repeating nothing', async () => {
    const urls: string[] = [];
    // The first connection is dropped by the client side after a few messages, mid-task.
    class DroppingWebSocket extends WebSocket {
      constructor(url: string) {
        super(url);
        urls.push(String(url));
        if (urls.length !== 1) return;
        let messages = 0;
        this.addEventListener('message', () => {
          if (++messages === 4) this.close(4001, 'test drop');
        });
      }
    }
    const cy = new Clipyard({ url: baseUrl(), WebSocket: DroppingWebSocket });
    const created = await cy.create({ input: { url: mediaUrl('slow/clip.mp4') }, steps: [{ op: 'audio' }] });
    const events: TaskEvent[] = [];
    const final = await cy.wait(created.id, { onEvent: (e) => events.push(e), reconnectDelaysMs: [50] });
    expect(final.status, JSON.stringify(final.error)).toBe('succeeded');
    expect(urls.length).toBeGreaterThanOrEqual(2);
    const resumedAfter = Number(new URL(urls[1]!).searchParams.get('after'));
    expect(resumedAfter).toBeGreaterThan(0);
    expectInOrderOnce(events);
    expect(events.at(-1)!.seq).toBe(final.seq);
  });

  it('cancels a running task; wait resolves with it canceled', async () => {
    const cy = client();
    const created = await cy.create({ input: { url: mediaUrl('slow/clip.mp4') }, steps: [{ op: 'audio' }] });
    let asked = false;
    const final = await cy.wait(created.id, {
      onProgress: (p) => {
        if (!asked && p.status === 'running' && p.stage === 'downloading') {
          asked = true;
          void cy.cancel(created.id);
        }
      },
    });
    expect(asked).toBe(true);
    expect(final.status).toBe('canceled');
  });

  it('uploads a local file and uses it as the input', async () => {
    const cy = client();
    const bytes = readFileSync(path.join(inject('mediaDir'), 'clip.mp4'));
    const upload = await cy.upload(bytes, 'clip.mp4');
    expect(upload.size).toBe(bytes.length);
    const final = await cy.run({ input: upload.input, steps: [{ op: 'thumbnail', width: 320 }] });
    expect(final.status).toBe('succeeded');
    const res = await cy.download(final.id, final.outputs[0]!.name);
    const probe = ffprobeBytes(new Uint8Array(await res.arrayBuffer()), 'jpg');
    expect(probe.streams[0]!.width).toBe(320);
  });

  it('uploads in parts (multipart) and the parts make the whole file', async () => {
    const cy = client();
    const bytes = readFileSync(path.join(inject('mediaDir'), 'clip.mp4'));
    const sent: number[] = [];
    const one = await cy.upload(bytes, 'clip.mp4', { multipart: true, onProgress: (n) => sent.push(n) });
    expect(one.size).toBe(bytes.length);
    expect(sent.at(-1)).toBe(bytes.length);
    const final = await cy.run({ input: one.input, steps: [{ op: 'probe' }] });
    expect(final.status).toBe('succeeded');

    // Two parts: one full 8 MiB part and the rest.
    const big = new Uint8Array(9 * 1024 * 1024 + 123).map((_, i) => (i * 31) & 255);
    const progress: number[] = [];
    const two = await cy.upload(big, 'big.bin', { multipart: true, onProgress: (n) => progress.push(n) });
    expect(two.size).toBe(big.length);
    expect(progress).toEqual([8 * 1024 * 1024, big.length]);
  });

  it('an Idempotency-Key gives back the same task; list and delete see it', async () => {
    const cy = client();
    const body = { input: { url: mediaUrl('clip.mp4') }, steps: [{ op: 'probe' as const }], label: 'client-idem' };
    const key = `client-test-${Date.now()}`;
    const first = await cy.create(body, { idempotencyKey: key });
    const again = await cy.create(body, { idempotencyKey: key });
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.id).toBe(first.id);
    await cy.wait(first.id);
    const page = await cy.list({ q: 'client-idem' });
    expect(page.tasks.map((t) => t.id)).toContain(first.id);
    await cy.delete(first.id);
    await expect(cy.get(first.id)).rejects.toMatchObject({ code: 'task.not_found', status: 404 });
  });

  it('errors carry the server codes; an unreachable server is a connection error', async () => {
    const cy = client();
    const missing = cy.get('aaaaaaaaaaaaaaaaaaaa');
    await expect(missing).rejects.toBeInstanceOf(ClipyardApiError);
    await expect(missing).rejects.toMatchObject({ code: 'task.not_found', status: 404, retryable: false });
    const bad = cy.create({
      input: { url: mediaUrl('clip.mp4') },
      steps: [{ op: 'audio', bitrat: '1' } as never],
    });
    await expect(bad).rejects.toMatchObject({ code: 'step.unknown_option', status: 400 });
    await expect(cy.wait('aaaaaaaaaaaaaaaaaaaa', { reconnectDelaysMs: [50] })).rejects.toMatchObject({
      code: 'task.not_found',
    });

    const away = new Clipyard({ url: `http://127.0.0.1:${await closedPort()}` });
    await expect(away.get('aaaaaaaaaaaaaaaaaaaa')).rejects.toBeInstanceOf(ClipyardConnectionError);
  });

  it('batches: create, wait with aggregate progress, then one zip of the outputs', async () => {
    const cy = client();
    const created = await cy.batches.create({
      label: 'client batch',
      tasks: [
        { input: { url: mediaUrl('clip.mp4') }, steps: [{ op: 'audio' }] },
        { input: { url: mediaUrl('notmedia.txt') }, steps: [{ op: 'audio' }] },
      ],
    });
    expect(created.taskIds).toHaveLength(2);
    const seen: number[] = [];
    const final = await cy.batches.wait(created.id, { onProgress: (b) => seen.push(b.progress) });
    expect(final.status).toBe('partial');
    expect(final.progress).toBe(100);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(final.children.map((c) => c.status)).toEqual(['succeeded', 'failed']);
    expect(final.children[1]!.error?.code).toMatch(/^media\./);
    expect((await cy.get(created.taskIds[0]!)).outputs.map((o) => o.name)).toEqual(['audio.mp3']);
    const zip = new Uint8Array(await (await cy.batches.archive(created.id)).arrayBuffer());
    expect(String.fromCharCode(zip[0]!, zip[1]!)).toBe('PK');
  });

  it('the server describes itself: /api/openapi.json validates, /docs renders it', async () => {
    const res = await fetch(`${baseUrl()}/api/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; servers: { url: string }[]; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.servers[0]!.url).toBe(baseUrl());
    expect(Object.keys(doc.paths)).toContain('/api/tasks/{id}/events');
    const result = await validate(doc as unknown as Exclude<Parameters<typeof validate>[0], string>);
    expect(result.valid).toBe(true);
    const page = await fetch(`${baseUrl()}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('clipyard API');
    expect(html).toContain('id="op-createTask"');
  });
});
