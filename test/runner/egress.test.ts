/**
 * Sites go through yt-dlp, which opens its own connections; the runner's egress proxy must hold it
 * to the same SSRF rules: a page on an allowed host may embed a video from that host, but a page
 * pointing yt-dlp at a private address fails with input.url.private and nothing is fetched there.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
// @ts-expect-error plain ESM helper shared with `npm start`
import { freePort, startRunner, stopProcess } from '../../scripts/system.mjs';
import type { RunnerEvent } from '../../src/protocol/runner.ts';

let dir: string;
let site: Server;
let secret: Server;
let secretHits = 0;
let runner: import('node:child_process').ChildProcess;
let base = '';
let siteBase = '';

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((r) => server.listen(0, host, r));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-egress-'));
  execFileSync('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25'],
    ...['-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', path.join(dir, 'clip.mp4')],
  ]);
  // a "private" service on another loopback address, which no allow-list entry names
  secret = createServer((_req, res) => {
    secretHits++;
    res.writeHead(200, { 'content-type': 'video/mp4' }).end(readFileSync(path.join(dir, 'clip.mp4')));
  });
  const secretPort = await listen(secret, '127.0.0.2');
  site = createServer((req, res) => {
    const page = (src: string) =>
      `<!doctype html><html><head><title>clip</title></head><body><video src="${src}" controls></video></body></html>`;
    if (req.url === '/ok.html') res.writeHead(200, { 'content-type': 'text/html' }).end(page('/clip.mp4'));
    else if (req.url === '/evil.html')
      res.writeHead(200, { 'content-type': 'text/html' }).end(page(`http://127.0.0.2:${secretPort}/clip.mp4`));
    else if (req.url === '/clip.mp4')
      res.writeHead(200, { 'content-type': 'video/mp4' }).end(readFileSync(path.join(dir, 'clip.mp4')));
    else res.writeHead(404).end();
  });
  siteBase = `http://127.0.0.1:${await listen(site, '127.0.0.1')}`;
  const port = await freePort();
  runner = await startRunner({ port, allowHosts: '127.0.0.1', env: { JOBS_DIR: path.join(dir, 'jobs') } });
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await stopProcess(runner);
  site.close();
  secret.close();
  rmSync(dir, { recursive: true, force: true });
});

async function run(jobId: string, url: string): Promise<RunnerEvent[]> {
  const res = await fetch(`${base}/jobs`, {
    method: 'POST',
    body: JSON.stringify({ jobId, step: { op: 'download' }, input: { kind: 'url', url } }),
  });
  expect(res.status).toBe(202);
  const text = await (await fetch(`${base}/jobs/${jobId}/events`)).text();
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RunnerEvent)
    .filter((e) => e.type !== 'heartbeat');
}

it('downloads a video embedded in a page on an allowed host through the proxy', async () => {
  const events = await run('page-ok', `${siteBase}/ok.html`);
  expect(events.at(-1), JSON.stringify(events.at(-1))).toMatchObject({ type: 'done' });
  expect(events.find((e) => e.type === 'output')).toMatchObject({ name: 'download.mp4' });
});

it('refuses when the page sends yt-dlp to a private address', async () => {
  const events = await run('page-evil', `${siteBase}/evil.html`);
  expect(events.at(-1)).toMatchObject({ type: 'error', code: 'input.url.private' });
  expect(secretHits).toBe(0);
});
