/**
 * Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright-core, a fresh
 * context per test, page errors collected so a test can insist there were none, and screenshots
 * saved under test-artifacts/screenshots/ for a person (or CI) to look at.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CLIPYARD_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.resolve(import.meta.dirname, '../../test-artifacts/screenshots');

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launch Chromium; fails loudly (never skips) when it is not installed. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install it (sudo apt-get install chromium) or set CLIPYARD_CHROMIUM`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 60_000 });
}

export interface Tab {
  context: BrowserContext;
  page: Page;
  /** uncaught exceptions and console errors, in order */
  errors: string[];
}

export async function openTab(
  browser: Browser,
  baseUrl: string,
  opts: { viewport?: { width: number; height: number }; hash?: string } = {},
): Promise<Tab> {
  const context = await browser.newContext({
    viewport: opts.viewport ?? { width: 1200, height: 900 },
    acceptDownloads: true,
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  await page.goto(`${baseUrl}/${opts.hash ?? ''}`);
  return { context, page, errors };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
