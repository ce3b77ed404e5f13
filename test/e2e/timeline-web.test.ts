/**
 * The run timeline and the dashboard's durations and bulk delete, in real Chromium against the real
 * system: a two-step task's card shows both steps with their stages and durations that add up to the
 * time the task ran (within 5%), its log lines and its request body; the dashboard says how long a
 * task took and deletes selected tasks.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, baseUrl, createTask, mediaUrl, snapshot, waitForStatus } from './client.ts';
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

async function tab(hash: string): Promise<Tab> {
  const t = await openTab(browser, baseUrl(), { hash });
  tabs.push(t);
  return t;
}

function poll<T>(fn: () => T | Promise<T>, timeout = 30_000) {
  return expect.poll(fn, { timeout, interval: 100 });
}

const rows = (page: Page, id: string, kind: string) =>
  page.locator(`article.task[data-id="${id}"] .timeline .tl-row[data-kind="${kind}"]`);

describe('run timeline on the page', () => {
  it('a two-step task shows both steps, with stages, and durations that add up to its run time', async () => {
    const body = {
      input: { url: mediaUrl('clip.mp4') },
      steps: [
        { op: 'transcode', height: 360 },
        { op: 'audio', format: 'mp3' },
      ],
    };
    const { id } = await createTask(body);
    const { page, errors } = await tab(`#task=${id}`);
    const card = page.locator(`article.task[data-id="${id}"]`);
    await poll(() => card.getAttribute('data-status'), 60_000).toBe('succeeded');
    await card.locator('.timeline > summary').click();
    await poll(() => rows(page, id, 'step').count()).toBe(2);
    const steps = await rows(page, id, 'step').evaluateAll((els) =>
      els.map((e) => ({ name: e.getAttribute('data-name'), ms: Number(e.getAttribute('data-duration-ms')) })),
    );
    expect(steps.map((s) => s.name)).toEqual(['1. transcode', '2. audio']);
    for (const s of steps) expect(s.ms).toBeGreaterThan(0);
    const ranMs = Number(await card.locator('.tl-attempt').first().getAttribute('data-ran-ms'));
    const sum = steps[0]!.ms + steps[1]!.ms;
    expect(Math.abs(ranMs - sum) / ranMs).toBeLessThan(0.05);
    // the stages each step went through (the runner's, and storing the output in R2)
    const stages = await rows(page, id, 'stage').evaluateAll((els) => els.map((e) => e.getAttribute('data-name')));
    expect(stages).toContain('storing');
    expect(stages.some((s) => s === 'downloading' || s === 'receiving')).toBe(true);
    // the wait before it ran, and the request body as the API took it (defaults filled in)
    expect(await rows(page, id, 'wait').first().getAttribute('data-name')).toBe('queued');
    await card.locator('.tl-raw > summary').click();
    expect(JSON.parse((await card.locator('.tl-request').textContent()) ?? '')).toMatchObject(body);
    expect(await card.locator('.timeline > summary').textContent()).toMatch(/^Timeline · \d/);
    await screenshot(page, 'web-timeline');
    expect(errors).toEqual([]);
  });

  it('the dashboard says how long a task took, and deletes the selected tasks', async () => {
    const tag = `del${Date.now().toString(36)}`;
    const a = await createTask({ input: { url: mediaUrl(`clip.mp4?${tag}=a`) }, steps: [{ op: 'probe' }] });
    const b = await createTask({ input: { url: mediaUrl(`clip.mp4?${tag}=b`) }, steps: [{ op: 'probe' }] });
    await waitForStatus(a.id, ['succeeded']);
    await waitForStatus(b.id, ['succeeded']);
    const { page, errors } = await tab('#dashboard');
    await page.fill('#filter-q', tag);
    const row = (id: string) => page.locator(`#task-rows tr[data-id="${id}"]`);
    await poll(() => page.locator('#task-rows tr').count()).toBe(2);
    await poll(() => row(a.id).locator('.took').textContent()).toMatch(/took \d/);
    for (const id of [a.id, b.id]) await row(id).locator('input[type=checkbox]').check();
    await page.click('#bulk-delete');
    expect(await page.locator('#bulk-delete').textContent()).toBe('Really delete 2?');
    await page.click('#bulk-delete');
    await poll(() => page.locator('#bulk-status').textContent()).toBe('2 deleted');
    await poll(() => page.locator('#task-rows tr').count()).toBe(0);
    expect((await api(`/api/tasks/${a.id}`)).status).toBe(404);
    expect((await api(`/api/tasks/${b.id}`)).status).toBe(404);
    expect(errors).toEqual([]);
  });

  it("shows a task's webhook deliveries with each attempt's status on its timeline", async () => {
    let calls = 0;
    const receiver = http.createServer((req, res) => {
      req.resume();
      calls += 1;
      res.writeHead(calls === 1 ? 503 : 204).end();
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const { id } = await createTask({
        input: { url: mediaUrl('clip.mp4') },
        steps: [{ op: 'probe' }],
        webhook: { url: hook },
      });
      const { page, errors } = await tab(`#task=${id}`);
      const card = page.locator(`article.task[data-id="${id}"]`);
      await poll(() => card.getAttribute('data-status')).toBe('succeeded');
      // attempts go on after the task ended: opening the timeline fetches them
      await poll(async () => ((await snapshot(id)).webhooks?.[0]?.attempts.length ?? 0) > 0).toBe(true);
      await card.locator('.timeline > summary').click();
      // the first attempt's 503 shows; the retry (5 s later by default) may not have happened yet
      await poll(() => card.locator('.tl-delivery li').first().textContent()).toMatch(/#1 503 in \d+ ms/);
      expect(await card.locator('.tl-delivery p').textContent()).toContain(`task.succeeded → ${hook}`);
      expect(errors).toEqual([]);
    } finally {
      receiver.closeAllConnections();
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  });
});
