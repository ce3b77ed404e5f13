/**
 * An HLS output on the page in real Chromium: the task card plays the stream inline with hls.js from
 * the master playlist's signed link (the video's clock passes 3 s with no player error), switches to
 * another rendition when the quality picker asks, and folds the rendition files under the stream.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { baseUrl, createTask, mediaUrl, waitForStatus } from './client.ts';
import { launchBrowser, openTab, screenshot, type Tab } from './web-browser.ts';

let browser: Browser;
let t: Tab | null = null;

beforeAll(async () => {
  browser = await launchBrowser();
});

afterAll(async () => {
  await t?.context.close().catch(() => {});
  await browser?.close();
});

function poll<T>(fn: () => T | Promise<T>, timeout = 20_000) {
  return expect.poll(fn, { timeout, interval: 100 });
}

describe('the page plays an HLS output', () => {
  it('plays past 3 s inline, switches rendition from the picker, and folds the rendition files', async () => {
    const { id } = await createTask({
      input: { url: mediaUrl('clip.mp4?hls-page') },
      steps: [{ op: 'hls', renditions: [480, 360], segmentSeconds: 2, quality: 'low' }],
    });
    const s = await waitForStatus(id, ['succeeded', 'failed'], 120_000);
    expect(s.status, s.error?.message).toBe('succeeded');

    t = await openTab(browser, baseUrl(), { hash: `#task=${id}` });
    const { page } = t;
    onTestFailed(async () => {
      await screenshot(page, 'failed-hls-player').catch(() => {});
      console.error(`page errors: ${JSON.stringify(t?.errors)}`);
    });
    const player = page.locator(`article.task[data-id="${id}"] .hls-player`);
    await player.waitFor({ timeout: 30_000 });
    await poll(() => player.getAttribute('data-state')).toBe('ready');
    expect(await player.locator('option').allTextContents()).toEqual(['Auto', '480p', '360p']);
    const parts = await page.locator(`article.task[data-id="${id}"] .stream-parts summary`).textContent();
    expect(parts).toContain('4 rendition files');
    // One player per stream: the rendition files get no players of their own.
    expect(await page.locator(`article.task[data-id="${id}"] video`).count()).toBe(1);

    // In-page code is a string: this file is type-checked without the DOM library.
    const video = `document.querySelector('article.task[data-id="${id}"] .hls-player video')`;
    await page.evaluate(`${video}.play()`);
    await poll(async () => Number(await page.evaluate(`${video}.currentTime`))).toBeGreaterThan(3);

    await player.locator('select').selectOption({ label: '360p' });
    await poll(() => player.getAttribute('data-level')).toBe('360');
    const before = Number(await page.evaluate(`${video}.currentTime`));
    await poll(async () => Number(await page.evaluate(`${video}.currentTime`))).toBeGreaterThan(before + 0.5);

    expect(await player.getAttribute('data-error')).toBeNull();
    expect(t.errors).toEqual([]);
    await screenshot(page, 'hls-player');
  });
});
