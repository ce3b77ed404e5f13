/**
 * The web page in real Chromium against the real system (wrangler dev + runner + ffmpeg): submit a
 * link and watch it finish, download the file, survive a dropped WebSocket without losing progress,
 * show a failure's reason and retry it from the button, and list and filter tasks on the dashboard.
 * Each test leaves a screenshot in test-artifacts/screenshots/.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page, WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFailed } from 'vitest';
import { api, baseUrl, createTask, downloadOutput, ffprobeBytes, mediaUrl, snapshot, waitForStatus } from './client.ts';
import { launchBrowser, openTab, screenshot, type Tab } from './web-browser.ts';

let browser: Browser;
const tabs: Tab[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
});

afterAll(async () => {
  for (const t of tabs) await t.context.close().catch(() => {});
  await browser?.close();
});

async function tab(opts: Parameters<typeof openTab>[2] = {}): Promise<Tab> {
  const t = await openTab(browser, baseUrl(), opts);
  tabs.push(t);
  // What the page showed when a test failed, next to the other screenshots.
  onTestFailed(async ({ task }) => {
    await screenshot(t.page, `failed-${task.name.replace(/\W+/g, '-').slice(0, 60)}`).catch(() => {});
    console.error(`page errors: ${JSON.stringify(t.errors)}`);
    const ids = await t.page.locator('article.task').evaluateAll((els) => els.map((e) => e.getAttribute('data-id')));
    for (const id of ids) {
      console.error(
        `task ${id}: ${JSON.stringify(await t.page.evaluate(`window.clipyard.state(${JSON.stringify(id)})`))}`,
      );
    }
  });
  return t;
}

/** expect.poll with a timeout that suits a loaded CI machine (vitest's default is 1 s). */
function poll<T>(fn: () => T | Promise<T>, opts: { timeout?: number } = {}) {
  return expect.poll(fn, { timeout: opts.timeout ?? 15_000, interval: 100 });
}

const card = (page: Page, id: string) => page.locator(`article.task[data-id="${id}"]`);

/** Record every overall-progress change (and the card's height) in the page, from before the task exists. */
async function recordProgress(page: Page): Promise<void> {
  // In-page code is a string: this file is type-checked without the DOM library.
  await page.evaluate(`(() => {
    window.samples = [];
    new MutationObserver((records) => {
      for (const r of records) {
        if (!r.target.matches('.progress-row .bar')) continue;
        const article = r.target.closest('article');
        window.samples.push({
          id: article.dataset.id,
          value: Number(r.target.getAttribute('aria-valuenow')),
          height: article.getBoundingClientRect().height,
          status: article.dataset.status,
        });
      }
    }).observe(document.getElementById('task-list'), { subtree: true, attributes: true, attributeFilter: ['aria-valuenow'] });
  })()`);
}

interface Sample {
  id: string;
  value: number;
  height: number;
  status: string;
}

async function samples(page: Page, id: string): Promise<Sample[]> {
  const all = (await page.evaluate('window.samples')) as Sample[];
  return all.filter((s) => s.id === id);
}

/** Paste a link, press Start, and return the new task's id once its card is on the page. */
async function submit(page: Page, url: string, preset = 'audio'): Promise<string> {
  await page.locator(`input[name=preset][value=${preset}]`).check();
  await page.fill('#urls', url);
  await page.click('#start');
  const article = page.locator('article.task').filter({ has: page.locator(`a.task-name[title="${url}"]`) });
  try {
    await article.first().waitFor({ timeout: 30_000 });
  } catch (err) {
    const said = await page.locator('#form-errors, #notice').allTextContents();
    throw new Error(`no card for ${url} (the page says: ${said.join(' | ') || 'nothing'}): ${String(err)}`);
  }
  return (await article.first().getAttribute('data-id'))!;
}

function expectNonDecreasing(values: number[]): void {
  for (let i = 1; i < values.length; i++) expect(values[i]!).toBeGreaterThanOrEqual(values[i - 1]!);
}

describe('the page in Chromium', () => {
  it('submits a link, shows the bar reaching 100 without layout jumps, and downloads the mp3', async () => {
    const { page, errors } = await tab();
    await recordProgress(page);
    const url = mediaUrl('clip.mp4');
    const id = await submit(page, url, 'audio');

    await poll(() => card(page, id).getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded');
    const bar = card(page, id).locator('.progress-row .bar');
    expect(await bar.getAttribute('aria-valuenow')).toBe('100');
    expect(await card(page, id).locator('.pct').first().textContent()).toBe('100%');
    expect(await card(page, id).locator('.state').textContent()).toBe('done');

    // The bar only moved forward, through values in between, and the card kept its height meanwhile.
    const seen = await samples(page, id);
    expectNonDecreasing(seen.map((s) => s.value));
    expect(seen.some((s) => s.value > 0 && s.value < 100)).toBe(true);
    const running = seen.filter((s) => s.status === 'running').map((s) => s.height);
    expect(running.length).toBeGreaterThan(0);
    expect(Math.max(...running) - Math.min(...running)).toBeLessThanOrEqual(1);

    // Download through the button, as a user would, and compare with the API's bytes.
    const link = card(page, id).locator('a.button', { hasText: 'Download' });
    await link.waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toBe('audio.mp3');
    const bytes = readFileSync((await download.path())!);
    const viaApi = await downloadOutput(id, 'audio.mp3');
    expect(bytes.length).toBe(viaApi.bytes.length);
    expect(Buffer.compare(bytes, Buffer.from(viaApi.bytes))).toBe(0);
    const probe = ffprobeBytes(bytes, 'mp3');
    expect(probe.streams[0]!.codec_name).toBe('mp3');
    expect(Math.abs(Number(probe.format.duration) - 10)).toBeLessThan(0.5);
    // The size on the button is the real one, and the preview plays the same file.
    const snap = await snapshot(id);
    expect(snap.outputs[0]!.size).toBe(bytes.length);
    await poll(() => card(page, id).locator('audio').count()).toBe(1);

    await screenshot(page, 'web-submit-done');
    expect(errors).toEqual([]);
  });

  it('shows a dropped WebSocket, reconnects by itself and misses no progress', async () => {
    const { page, errors } = await tab();
    // Stand between the page and the server so the test can cut the line and keep it cut a while.
    let live: { page: WebSocketRoute; server: WebSocketRoute } | null = null;
    let refuse = false;
    let refused = 0;
    await page.routeWebSocket(/\/api\/tasks\/[a-z2-7]+\/events/, (ws) => {
      if (refuse) {
        refused++;
        void ws.close({ code: 1011, reason: 'network down' });
        return;
      }
      live = { page: ws, server: ws.connectToServer() };
    });
    await recordProgress(page);
    const url = mediaUrl('slow/clip.mp4');
    const id = await submit(page, url, 'audio');

    await poll(async () => Number(await card(page, id).locator('.progress-row .bar').getAttribute('aria-valuenow')), {
      timeout: 30_000,
    }).toBeGreaterThan(0);
    const before = await snapshot(id);
    expect(before.status).toBe('running');

    // Cut both directions; refuse reconnects for 1.5 s while the task keeps making progress.
    refuse = true;
    const cut = live!;
    await cut.server.close();
    await cut.page.close({ code: 4000, reason: 'cut by the test' });
    await card(page, id).locator('.conn').waitFor({ state: 'visible' });
    expect(await card(page, id).locator('.conn').textContent()).toMatch(/connection lost/);
    expect(await card(page, id).getAttribute('data-connection')).toBe('reconnecting');
    await page.waitForTimeout(1_500);
    await screenshot(page, 'web-connection-lost');
    refuse = false;

    await poll(() => card(page, id).getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded');
    expect(refused).toBeGreaterThan(0);
    expect(Number(await card(page, id).getAttribute('data-reconnects'))).toBeGreaterThan(0);
    expect(await card(page, id).locator('.conn').textContent()).toMatch(/reconnected/);

    // Every event the task logged reached the page, exactly once, and the bar never went back.
    const final = await snapshot(id);
    const seen = (await page.evaluate(`window.clipyard.seen(${JSON.stringify(id)})`)) as number[];
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: final.seq }, (_, i) => i + 1));
    expect(await page.evaluate(`window.clipyard.missing(${JSON.stringify(id)})`)).toEqual([]);
    expect(final.seq).toBeGreaterThan(before.seq);
    expectNonDecreasing((await samples(page, id)).map((s) => s.value));
    expect(await card(page, id).locator('.progress-row .bar').getAttribute('aria-valuenow')).toBe('100');

    await screenshot(page, 'web-reconnected');
    // The refused reconnects log a console error by design; nothing else may.
    expect(errors.filter((e) => !/WebSocket connection to .* failed/.test(e))).toEqual([]);
  });

  it('runs several links as one batch with its own progress and a zip of every output', async () => {
    const { page, errors } = await tab();
    const urls = [mediaUrl('clip.mp4?batch=1'), mediaUrl('clip.mp4?batch=2')];
    await page.locator('input[name=preset][value=audio]').check();
    await page.fill('#urls', urls.join('\n'));
    await page.click('#start');
    const batch = page.locator('section.batch');
    await batch.waitFor({ timeout: 30_000 });
    for (const url of urls) {
      await page
        .locator('article.task')
        .filter({ has: page.locator(`a.task-name[title="${url}"]`) })
        .waitFor();
    }
    await poll(() => batch.getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded');
    expect(await batch.locator('.bar').getAttribute('aria-valuenow')).toBe('100');
    expect(await batch.locator('.batch-counts').textContent()).toBe('2 done of 2');
    await screenshot(page, 'web-batch');

    const link = batch.locator('a', { hasText: 'Download all' });
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const file = (await download.path())!;
    expect(readFileSync(file).subarray(0, 2).toString()).toBe('PK');
    const listing = execFileSync('unzip', ['-l', file]).toString();
    expect(listing.match(/audio\.mp3/g)?.length).toBe(2);

    // A reload keeps the batch's summary and its archive link, not only its task cards.
    const id = await batch.getAttribute('data-id');
    await page.reload();
    const again = page.locator(`section.batch[data-id="${id}"]`);
    await again.waitFor();
    await poll(() => again.locator('.batch-counts').textContent()).toBe('2 done of 2');
    await again.locator('a', { hasText: 'Download all' }).waitFor();
    // Hide forgets it
    await again.locator('button', { hasText: 'Hide' }).click();
    await page.reload();
    await page.locator('article.task').first().waitFor();
    // (the batches are restored alongside the tasks; give a forgotten one time to wrongly come back)
    await page.waitForTimeout(1_000);
    expect(await page.locator('section.batch').count()).toBe(0);
    expect(errors).toEqual([]);
  });

  it('shows why a task failed and retries it from the button', async () => {
    const { page, errors } = await tab();
    const notMedia = mediaUrl('notmedia.txt');
    const missing = mediaUrl('nope.mp4');
    // Two links at once, one per line.
    await page.fill('#urls', `${notMedia}\n${missing}`);
    await page.click('#start');
    const byUrl = (url: string) =>
      page.locator('article.task').filter({ has: page.locator(`a.task-name[title="${url}"]`) });
    await poll(() => byUrl(notMedia).getAttribute('data-status'), { timeout: 60_000 }).toBe('failed');
    await poll(() => byUrl(missing).getAttribute('data-status'), { timeout: 60_000 }).toBe('failed');
    for (const [url, code] of [
      [notMedia, 'media.unsupported'],
      [missing, 'source.not_found'],
    ] as const) {
      const c = byUrl(url);
      await c.locator('.error').waitFor({ state: 'visible' });
      expect(await c.locator('.error .code').textContent()).toBe(code);
      expect((await c.locator('.error .reason').textContent())!.length).toBeGreaterThan('Failed: '.length);
      expect(await c.locator('.state').textContent()).toBe('failed');
      await c.locator('button[data-action=retry]').waitFor({ state: 'visible' });
      await c.locator('button[data-action=cancel]').waitFor({ state: 'hidden' });
    }
    const id = (await byUrl(missing).getAttribute('data-id'))!;
    const failedOnce = await snapshot(id);
    await screenshot(page, 'web-failed');

    await byUrl(missing).locator('button[data-action=retry]').click();
    await poll(async () => (await snapshot(id)).attempt, { timeout: 30_000 }).toBeGreaterThan(failedOnce.attempt);
    await poll(() => byUrl(missing).getAttribute('data-status'), { timeout: 60_000 }).toBe('failed');
    expect(await byUrl(missing).locator('.error .code').textContent()).toBe('source.not_found');
    expect(errors).toEqual([]);
  });

  it('retries a flaky source: "retrying in N s" while it backs off, then done after the Retry button', async () => {
    const { page, errors } = await tab();
    // The media server answers 503 five times: the task's four attempts fail, the retry succeeds.
    const url = mediaUrl('flaky/5/clip.mp4');
    const id = await submit(page, url, 'thumbnail');
    await poll(() => card(page, id).locator('.state').textContent(), { timeout: 30_000 }).toMatch(
      /retrying in \d+ s|retrying now/,
    );
    await poll(() => card(page, id).locator('.error .code').textContent()).toBe('source.server_error');
    await screenshot(page, 'web-retrying');
    await poll(() => card(page, id).getAttribute('data-status'), { timeout: 60_000 }).toBe('failed');
    await card(page, id).locator('button[data-action=retry]').click();
    await poll(() => card(page, id).getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded');
    await card(page, id).locator('.error').waitFor({ state: 'hidden' });
    const img = card(page, id).locator('.preview img');
    await poll(() => img.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth)).toBe(640);
    await screenshot(page, 'web-retried-done');
    expect(errors).toEqual([]);
  });

  it('uploads a chosen file with its own progress bar and runs the preset on it', async () => {
    const { page, errors } = await tab();
    await page.evaluate(`(() => {
      window.uploadRows = 0;
      window.uploadValues = [];
      new MutationObserver((records) => {
        for (const r of records) {
          if (r.type === 'childList') window.uploadRows += [...r.addedNodes].filter((n) => n.nodeType === 1 && n.matches('li.upload')).length;
          else window.uploadValues.push(Number(r.target.getAttribute('aria-valuenow')));
        }
      }).observe(document.getElementById('uploads'), { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
    })()`);
    const file = path.join(inject('mediaDir'), 'clip.mp4');
    await page.setInputFiles('#files', file);
    await poll(() => page.locator('#file-list li').textContent()).toMatch(/^clip\.mp4 · \d[\d.]* (kB|MB)/);
    await page.locator('input[name=preset][value=audio]').check();
    await page.click('#start');
    const article = page
      .locator('article.task')
      .filter({ has: page.locator('a.task-name', { hasText: /^clip\.mp4$/ }) });
    await article.waitFor({ timeout: 30_000 });
    const id = (await article.getAttribute('data-id'))!;
    expect(await page.evaluate('window.uploadRows')).toBe(1);
    const values = (await page.evaluate('window.uploadValues')) as number[];
    if (values.length > 0) expect(values.at(-1)).toBe(100);
    // The upload row goes away once its task exists; the file list is cleared.
    expect(await page.locator('#uploads li').count()).toBe(0);
    expect(await page.locator('#file-list li').count()).toBe(0);

    await poll(() => card(page, id).getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded');
    const snap = await snapshot(id);
    expect('upload' in snap.input).toBe(true);
    const { bytes } = await downloadOutput(id, 'audio.mp3');
    expect(Math.abs(Number(ffprobeBytes(bytes, 'mp3').format.duration) - 10)).toBeLessThan(0.5);
    await screenshot(page, 'web-upload-done');
    expect(errors).toEqual([]);
  });

  it('cancels a running task, then deletes it', async () => {
    const { page, errors } = await tab();
    const id = await submit(page, mediaUrl('slow/clip.mp4'), 'video');
    await poll(() => card(page, id).getAttribute('data-status'), { timeout: 30_000 }).toBe('running');
    await card(page, id).locator('button[data-action=cancel]').click();
    await poll(() => card(page, id).getAttribute('data-status'), { timeout: 30_000 }).toBe('canceled');
    expect(await card(page, id).locator('.state').textContent()).toBe('canceled');
    await card(page, id).locator('button[data-action=cancel]').waitFor({ state: 'hidden' });
    await card(page, id).locator('button[data-action=retry]').waitFor({ state: 'visible' });
    expect((await snapshot(id)).status).toBe('canceled');
    await screenshot(page, 'web-canceled');

    // Delete asks once more, then the task is gone from the page and from the API.
    const del = card(page, id).locator('button[data-action=delete]');
    await del.click();
    expect(await del.textContent()).toBe('Really delete?');
    expect(await card(page, id).count()).toBe(1);
    await del.click();
    await poll(() => card(page, id).count()).toBe(0);
    expect((await api(`/api/tasks/${id}`)).status).toBe(404);
    // It is not restored on the next visit either.
    await page.reload();
    await page.locator('#task-list-empty').waitFor({ state: 'visible' });
    expect(errors).toEqual([]);
  });

  it('shows the list a page at a time, and older tasks with "Show more"', async () => {
    const tag = `page${Date.now().toString(36)}`;
    // twelve tasks that fail at once (missing source), so they cost the runner almost nothing
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      ids.push((await createTask({ input: { url: mediaUrl(`nope.mp4?${tag}=${i}`) }, steps: [{ op: 'probe' }] })).id);
    }
    for (const id of ids) await waitForStatus(id, ['failed']);

    const { page, errors } = await tab({ hash: '#dashboard' });
    await page.fill('#filter-q', tag);
    await page.selectOption('#page-size', '10');
    const shownIds = () =>
      page.locator('#task-rows tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')));
    // newest first: the last ten created
    await poll(shownIds).toEqual(ids.slice(2).reverse());
    expect(await page.locator('#tasks-count').textContent()).toBe('10+ shown');
    await page.click('#tasks-more');
    await poll(shownIds).toEqual([...ids].reverse());
    await poll(() => page.locator('#tasks-more').isHidden()).toBe(true);
    expect(await page.locator('#tasks-count').textContent()).toBe('12 shown');
    // the choice of page size is remembered
    await page.reload();
    expect(await page.locator('#page-size').inputValue()).toBe('10');
    expect(errors).toEqual([]);
  });

  it('lists, filters and searches tasks on the dashboard, with health and bulk retry', async () => {
    const tag = `dash${Date.now().toString(36)}`;
    const ok = await createTask({ input: { url: mediaUrl(`clip.mp4?${tag}=ok`) }, steps: [{ op: 'probe' }] });
    const bad = await createTask({ input: { url: mediaUrl(`nope.mp4?${tag}=bad`) }, steps: [{ op: 'probe' }] });
    await waitForStatus(ok.id, ['succeeded']);
    await waitForStatus(bad.id, ['failed']);

    const { page, errors } = await tab({ hash: '#dashboard' });
    const row = (id: string) => page.locator(`#task-rows tr[data-id="${id}"]`);
    await row(ok.id).waitFor();
    await row(bad.id).waitFor();
    expect(await row(ok.id).locator('.state').textContent()).toBe('done');
    expect(await row(bad.id).locator('.state').textContent()).toBe('failed');

    // Health: the runner is up, with its ffmpeg, and the queue counts include our failure.
    await poll(() => page.locator('#health').getAttribute('data-runner')).toBe('reachable');
    await poll(() => page.locator('#health').textContent()).toContain('ffmpeg');
    await poll(() => page.locator('#throughput svg').count()).toBe(1);
    expect(await page.locator('#throughput svg').getAttribute('aria-label')).toMatch(/[1-9]\d* done, [1-9]\d* failed/);

    // Filter by status: only failed rows remain, ours among them.
    await page.selectOption('#filter-status', 'failed');
    await poll(() => row(ok.id).count()).toBe(0);
    await poll(() => row(bad.id).count()).toBe(1);
    const statuses = await page
      .locator('#task-rows tr')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status')));
    expect(new Set(statuses)).toEqual(new Set(['failed']));

    // Search by URL: only this test's two tasks match the tag.
    await page.selectOption('#filter-status', '');
    await page.fill('#filter-q', tag);
    await poll(() => page.locator('#task-rows tr').count()).toBe(2);
    await page.fill('#filter-q', `${tag}=bad`);
    await poll(() => page.locator('#task-rows tr').count()).toBe(1);
    await poll(() => row(bad.id).count()).toBe(1);

    // Bulk retry from the list; the row follows the task live.
    await row(bad.id).locator('input[type=checkbox]').check();
    await page.click('#bulk-retry');
    await poll(() => page.locator('#bulk-status').textContent()).toBe('1 retried');
    await poll(async () => (await snapshot(bad.id)).attempt, { timeout: 30_000 }).toBeGreaterThan(1);
    await poll(async () => (await snapshot(bad.id)).status, { timeout: 30_000 }).toBe('failed');

    await page.fill('#filter-q', tag);
    await poll(() => page.locator('#task-rows tr').count()).toBe(2);
    await screenshot(page, 'web-dashboard');

    // A row links to its task's live card.
    await row(ok.id).locator('a').click();
    await poll(() => card(page, ok.id).getAttribute('data-status')).toBe('succeeded');
    await poll(() => card(page, ok.id).locator('.preview-text').textContent()).toContain('video: h264');
    expect(errors).toEqual([]);
  });

  it('keeps an API key entered once and sends it with every request and socket', async () => {
    const { page, errors } = await tab();
    const key = 'test-key-123';
    await page.click('#key-button');
    await page.fill('#key-input', key);
    await Promise.all([page.waitForEvent('load'), page.click('#key-form button[value=save]')]);
    expect(await page.locator('#key-button').textContent()).toBe('API key ✓');
    const authorizations: (string | undefined)[] = [];
    const sockets: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/tasks')) authorizations.push(r.headers().authorization);
    });
    page.on('websocket', (ws) => sockets.push(ws.url()));
    const id = await submit(page, mediaUrl('clip.mp4?keyed'), 'info');
    await poll(() => card(page, id).getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded');
    expect(authorizations.length).toBeGreaterThan(0);
    expect(new Set(authorizations)).toEqual(new Set([`Bearer ${key}`]));
    expect(sockets.length).toBeGreaterThan(0);
    for (const url of sockets) expect(new URL(url).searchParams.get('key')).toBe(key);
    // Forgetting it works the same way.
    await page.click('#key-button');
    await Promise.all([page.waitForEvent('load'), page.click('#key-form button[value=clear]')]);
    expect(await page.locator('#key-button').textContent()).toBe('API key');
    expect(await page.evaluate("localStorage.getItem('clipyard.apiKey')")).toBeNull();
    expect(errors).toEqual([]);
  });

  it('works on a phone-sized screen with the keyboard alone', async () => {
    const { page, errors } = await tab({ viewport: { width: 390, height: 844 } });
    // Transcript is offered exactly when the server knows the transcribe op.
    const probe = await api('/api/tasks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { url: 'not a url' }, steps: [{ op: 'transcribe' }] }),
    });
    const knowsTranscribe = ((await probe.json()) as { error: { code: string } }).error.code !== 'step.unknown_op';
    await poll(() => page.locator('[data-preset=transcript]').getAttribute('data-available')).toBe(
      String(knowsTranscribe),
    );
    expect(await page.locator('[data-preset=transcript]').isVisible()).toBe(knowsTranscribe);

    const url = mediaUrl('clip.mp4');
    await page.locator('#urls').focus();
    await page.keyboard.type(url);
    // Tab into the preset radio group and move to Video with the arrow keys.
    await page.locator('input[name=preset][value=audio]').focus();
    await page.keyboard.press('ArrowRight');
    expect(await page.locator('input[name=preset][value=video]').isChecked()).toBe(true);
    await page.locator('#video-height').selectOption('360');
    await page.locator('#urls').focus();
    await page.keyboard.press('Control+Enter');
    const article = page.locator('article.task').filter({ has: page.locator(`a.task-name[title="${url}"]`) });
    await article.first().waitFor();
    const id = (await article.first().getAttribute('data-id'))!;
    await poll(() => card(page, id).getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded');
    const video = card(page, id).locator('video');
    await poll(() => video.evaluate((el) => (el as unknown as { videoHeight: number }).videoHeight), {
      timeout: 15_000,
    }).toBe(360);

    // Nothing wider than the screen.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await screenshot(page, 'web-phone');
    expect(errors).toEqual([]);
  });
});
