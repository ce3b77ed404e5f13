/**
 * Playlists end to end: a feed page served locally (text/html, which Debian's yt-dlp generic
 * extractor reads as a playlist) whose entries are the suite's test clip, listed by the real runner
 * through its egress proxy and run as a batch by the real Worker.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchSnapshot } from '../../src/protocol/batch.ts';
import { api, baseUrl, createTask, mediaUrl, snapshot } from './client.ts';
import { launchBrowser, openTab, screenshot } from './web-browser.ts';

let server: http.Server;
let feedUrl = '';

function feed(): string {
  const item = (title: string, url: string) =>
    `<item><title>${title}</title><link>${url}</link><guid>${title}</guid><enclosure url="${url}" type="video/mp4" length="1"/></item>`;
  return `<?xml version="1.0"?><rss version="2.0"><channel><title>Test Channel</title><link>http://127.0.0.1/</link>
<description>clips</description>${item('First clip', mediaUrl('clip.mp4'))}${item('Second: the clip', mediaUrl('clip.mp4'))}${item('Third', mediaUrl('clip.mp4'))}</channel></rss>`;
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function postBatch(body: unknown): Promise<Response> {
  return api('/api/batches', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

beforeAll(async () => {
  server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(feed()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  feedUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/channel`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('playlists and channels as batches', () => {
  it('a playlist becomes a batch labelled with its title, one task per entry up to the limit', async () => {
    const res = await postBatch({ playlist: { url: feedUrl, limit: 2 }, steps: [{ op: 'audio', format: 'mp3' }] });
    expect(res.status).toBe(202);
    const created = (await res.json()) as { id: string; taskIds: string[]; batch: BatchSnapshot };
    expect(created.batch.label).toBe('Test Channel');
    expect(created.taskIds).toHaveLength(2);
    const first = await snapshot(created.taskIds[0]!);
    expect(first.label).toBe('First clip');
    expect(first.input).toEqual({ url: mediaUrl('clip.mp4') });
    const done = await until(
      async () => (await (await api(`/api/batches/${created.id}`)).json()) as BatchSnapshot,
      (b) => b.status !== 'running',
    );
    expect(done.status).toBe('succeeded');
    const zip = Buffer.from(await (await api(`/api/batches/${created.id}/archive`)).arrayBuffer()).toString('latin1');
    // folders are named by the entries' titles, made safe for any file system
    expect(zip).toContain('1-First clip/audio.mp3');
    expect(zip).toMatch(/2-Second[^/:]*the clip\/audio\.mp3/);
  });

  it('takes the default limit, and `items` picks entries', async () => {
    const all = (await (await postBatch({ playlist: { url: feedUrl }, steps: [{ op: 'probe' }] })).json()) as {
      taskIds: string[];
    };
    expect(all.taskIds).toHaveLength(3);
    const picked = await postBatch({ playlist: { url: feedUrl, items: '3' }, steps: [{ op: 'probe' }] });
    const body = (await picked.json()) as { taskIds: string[] };
    expect(body.taskIds).toHaveLength(1);
    expect((await snapshot(body.taskIds[0]!)).label).toBe('Third');
  });

  it('a plain task given a playlist URL fails with a code that names the batch form', async () => {
    const { id } = await createTask({ input: { url: feedUrl }, steps: [{ op: 'audio' }] });
    const s = await until(
      () => snapshot(id),
      (t) => t.status === 'failed',
    );
    expect(s.error?.code).toBe('input.url.playlist');
    expect(s.error?.message).toContain('POST /api/batches');
  });

  it('refuses a private playlist URL before anything is listed', async () => {
    const res = await postBatch({ playlist: { url: 'http://10.0.0.9/list' }, steps: [{ op: 'probe' }] });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('input.url.private');
    expect(error.message).toMatch(/^playlist\.url/);
  });

  it('the page turns a playlist link into a batch with its combined bar and one card per entry', async () => {
    const browser = await launchBrowser();
    try {
      const { page, errors } = await openTab(browser, baseUrl());
      await page.fill('#urls', feedUrl);
      await page.check('#as-playlist');
      await page.check('input[name=preset][value=info]');
      await page.click('#start');
      const batch = page.locator('section.batch');
      await expect
        .poll(() => batch.locator('.batch-head strong').textContent(), { timeout: 30_000 })
        .toBe('Test Channel');
      await expect.poll(() => batch.getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded');
      for (const title of ['First clip', 'Second: the clip', 'Third']) {
        await expect.poll(() => page.locator('article.task .task-name', { hasText: title }).count()).toBeGreaterThan(0);
      }
      await screenshot(page, 'web-playlist');
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('the CLI runs a playlist as a batch and saves one zip named after it', async () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const localNode = path.join(root, 'node_modules/.bin/node');
    const out = mkdtempSync(path.join(os.tmpdir(), 'clipyard-playlist-cli-'));
    try {
      // not execFileSync: the feed is served from this very process
      const { stdout } = await promisify(execFile)(
        existsSync(localNode) ? localNode : process.execPath,
        [path.join(root, 'bin/clipyard.mjs'), feedUrl, '--playlist', '--info', '--server', baseUrl()],
        { cwd: out, encoding: 'utf8', timeout: 100_000, env: { ...process.env, CLIPYARD_API_KEY: '' } },
      );
      expect(stdout).toMatch(/batch \w+: Test Channel, 3 tasks/);
      expect(stdout).toContain('3/3 finished');
      const listing = execFileSync('unzip', ['-l', path.join(out, 'Test Channel.zip')], { encoding: 'utf8' });
      expect(listing).toContain('1-First clip/probe.json');
      expect(listing).toContain('3-Third/probe.json');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
