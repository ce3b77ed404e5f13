/**
 * The security suite against the real system (wrangler dev + the runner + ffmpeg): the hostile
 * inputs that need the real runner to be refused — redirects to private addresses, sources that lie
 * about their size or stop halfway, playlists and concat lists that point at local files, bytes that
 * only pretend to be media — plus the Worker's own checks over real HTTP. Each row asserts the exact
 * error code and that nothing was fetched or leaked. Prints the count tried and handled.
 *
 * A hostile web server runs inside this file on 127.0.0.1 (allowed in e2e, as CLIPYARD_ALLOW_HOSTS
 * says), and counts every request for /secret: the place no redirect may reach.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signLink } from '../../src/lib/links.ts';
import { api, baseUrl, createTask, devLinkSecret, downloadOutput, mediaUrl, waitForStatus } from './client.ts';

let server: Server;
let base = '';
let port = 0;
const hits = new Map<string, number>();
/** Tiny files whose media lies about its size: generated with ffmpeg before the suite. */
const crafted = new Map<string, Buffer>();

function craftMedia(): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-hostile-'));
  const ff = (args: string[]) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
  try {
    // two frames 20000 s apart: a 1 KB file that probes as five and a half hours
    ff(
      ['-f', 'lavfi', '-i', 'color=s=16x16:r=1', '-frames:v', '2', '-vf', 'setpts=N*20000/TB'].concat([
        '-fps_mode',
        'passthrough',
        '-c:v',
        'mjpeg',
        path.join(dir, 'long.mkv'),
      ]),
    );
    // one frame 5000 px wide, a few hundred bytes
    ff(['-f', 'lavfi', '-i', 'color=c=red:s=5000x8', '-frames:v', '1', path.join(dir, 'wide.png')]);
    crafted.set('/long.mkv', readFileSync(path.join(dir, 'long.mkv')));
    crafted.set('/wide.png', readFileSync(path.join(dir, 'wide.png')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function hostile(): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    const file = crafted.get(url.pathname);
    if (file) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.length }).end(file);
      return;
    }
    switch (url.pathname) {
      case '/redirect':
        res.writeHead(302, { location: url.searchParams.get('to') ?? '/' }).end();
        return;
      case '/loop':
        res.writeHead(302, { location: `/loop?n=${Number(url.searchParams.get('n') ?? 0) + 1}` }).end();
        return;
      case '/secret':
        res.writeHead(200, { 'content-type': 'video/mp4' }).end('SECRET-BYTES-THAT-MUST-NOT-BE-FETCHED');
        return;
      case '/huge.mp4':
        // claims a terabyte; the runner must refuse from the header, not by downloading
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(10 ** 12) });
        res.write(randomBytes(1024));
        return;
      case '/truncated.mp4': {
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': '200000' });
        res.write(randomBytes(1000), () => res.destroy());
        return;
      }
      case '/playlist.m3u8':
        res
          .writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' })
          .end('#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n');
        return;
      case '/concat.txt':
        res.writeHead(200, { 'content-type': 'text/plain' }).end("ffconcat version 1.0\nfile '/etc/passwd'\n");
        return;
      case '/garbage.mp4':
        res.writeHead(200, { 'content-type': 'video/mp4' }).end(randomBytes(64 * 1024));
        return;
      case '/page.mp4':
        res.writeHead(200, { 'content-type': 'video/mp4' }).end('<html><body>not a video</body></html>'.repeat(50));
        return;
      default:
        res.writeHead(404).end('not found');
    }
  });
}

beforeAll(async () => {
  craftMedia();
  server = hostile();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  console.log(`security (e2e): ${tried} hostile inputs tried, ${handled} handled as designed`);
});

let tried = 0;
let handled = 0;

async function codeOf(res: Response): Promise<string | null> {
  const body = (await res.json().catch(() => null)) as { error?: { code?: string } } | null;
  return body?.error?.code ?? null;
}

/** Create a task from `url` and wait for it to fail; returns the error code it failed with. */
async function failureOf(url: string, steps: unknown[] = [{ op: 'probe' }]): Promise<string | undefined> {
  const { id } = await createTask({ input: { url }, steps, maxAttempts: 1 });
  const s = await waitForStatus(id, ['failed', 'succeeded', 'canceled'], 60_000);
  return s.status === 'failed' ? s.error?.code : `(${s.status})`;
}

const redirectTo = (target: string) => `${base}/redirect?to=${encodeURIComponent(target)}`;

describe('the runner refuses redirects to private places (nothing reaches /secret)', () => {
  const rows: [string, () => string, string][] = [
    ['decimal loopback', () => `http://2130706433:${port}/secret`, 'input.url.private'],
    ['hex loopback', () => `http://0x7f.1:${port}/secret`, 'input.url.private'],
    ['octal loopback', () => `http://017700000001:${port}/secret`, 'input.url.private'],
    ['short loopback', () => `http://127.1:${port}/secret`, 'input.url.private'],
    ['trailing-dot loopback', () => `http://127.0.0.1.:${port}/secret`, 'input.url.private'],
    ['localhost', () => `http://localhost:${port}/secret`, 'input.url.private'],
    ['IPv6 loopback', () => `http://[::1]:${port}/secret`, 'input.url.private'],
    ['IPv4-mapped loopback', () => `http://[::ffff:127.0.0.1]:${port}/secret`, 'input.url.private'],
    ['cloud metadata', () => 'http://169.254.169.254/latest/meta-data/', 'input.url.private'],
    ['AWS IPv6 metadata', () => 'http://[fd00:ec2::254]/latest/meta-data/', 'input.url.private'],
    ['a private network', () => 'http://10.0.0.1/secret', 'input.url.private'],
    ['CGNAT', () => 'http://100.64.0.1/secret', 'input.url.private'],
    ['credentials', () => `http://user@127.0.0.1:${port}/secret`, 'input.url.credentials'],
    ['a local file', () => 'file:///etc/passwd', 'input.url.scheme'],
    ['protocol-relative metadata', () => '//169.254.169.254/latest/meta-data/', 'input.url.private'],
  ];
  it.each(rows)('%s', async (_name, target, code) => {
    tried++;
    const before = hits.get('/secret') ?? 0;
    expect(await failureOf(redirectTo(target()))).toBe(code);
    expect(hits.get('/secret') ?? 0).toBe(before);
    handled++;
  });

  const chains: [string, () => string, string][] = [
    [
      'a chain of two hops to decimal loopback',
      () => redirectTo(redirectTo(`http://2130706433:${port}/secret`)),
      'input.url.private',
    ],
    [
      'a chain of three hops to cloud metadata',
      () => redirectTo(redirectTo(redirectTo('http://169.254.169.254/'))),
      'input.url.private',
    ],
    ['a redirect to gopher', () => redirectTo(`gopher://127.0.0.1:${port}/_secret`), 'input.url.scheme'],
    ['a redirect to IPv6 unspecified', () => redirectTo(`http://[::]:${port}/secret`), 'input.url.private'],
    // webhook-style targets: the control planes next to the runner, reached by another spelling
    ["the runner's own job API via localhost", () => redirectTo('http://localhost:8788/jobs'), 'input.url.private'],
    ['a link-local webhook receiver', () => redirectTo('http://169.254.0.1:8080/hook'), 'input.url.private'],
  ];
  it.each(chains)('%s', async (_name, target, code) => {
    tried++;
    const before = hits.get('/secret') ?? 0;
    expect(await failureOf(target())).toBe(code);
    expect(hits.get('/secret') ?? 0).toBe(before);
    handled++;
  });

  it('stops after a bounded number of redirects', async () => {
    tried++;
    expect(await failureOf(`${base}/loop`)).toBe('source.too_many_redirects');
    expect(hits.get('/loop')).toBeLessThanOrEqual(6);
    handled++;
  });

  it('still follows an ordinary redirect to an allowed host', async () => {
    const { id } = await createTask({ input: { url: redirectTo(mediaUrl('clip.mp4')) }, steps: [{ op: 'probe' }] });
    expect((await waitForStatus(id, ['succeeded', 'failed'], 60_000)).status).toBe('succeeded');
  });
});

describe('hostile sources and media', () => {
  const rows: [string, () => string, unknown[], string][] = [
    ['a source that claims a terabyte', () => `${base}/huge.mp4`, [{ op: 'probe' }], 'source.too_large'],
    ['a source that stops halfway', () => `${base}/truncated.mp4`, [{ op: 'probe' }], 'source.unreachable'],
    ['an HLS playlist pointing at a local file', () => `${base}/playlist.m3u8`, [{ op: 'audio' }], 'media.unsupported'],
    ['a concat list pointing at a local file', () => `${base}/concat.txt`, [{ op: 'audio' }], 'media.unsupported'],
    ['random bytes named .mp4', () => `${base}/garbage.mp4`, [{ op: 'transcode' }], 'media.unsupported'],
    ['an HTML page named .mp4', () => `${base}/page.mp4`, [{ op: 'audio' }], 'media.unsupported'],
    ['a text file', () => mediaUrl('notmedia.txt'), [{ op: 'thumbnail' }], 'media.unsupported'],
    ['1 KB that probes as 5.5 hours', () => `${base}/long.mkv`, [{ op: 'transcode' }], 'media.too_long'],
    ['an image 5000 px wide', () => `${base}/wide.png`, [{ op: 'thumbnail' }], 'media.resolution_too_high'],
  ];
  it.each(rows)('%s', async (_name, url, steps, code) => {
    tried++;
    expect(await failureOf(url(), steps)).toBe(code);
    handled++;
  });
});

describe('the Worker over real HTTP', () => {
  it.each([
    ['http://2130706433:{port}/clip.mp4', 'input.url.private'],
    ['http://127.1:{port}/clip.mp4', 'input.url.private'],
    ['http://localhost:{port}/clip.mp4', 'input.url.private'],
    ['http://[::ffff:7f00:1]:{port}/clip.mp4', 'input.url.private'],
    ['http://evil@127.0.0.1:{port}/clip.mp4', 'input.url.credentials'],
    ['file:///etc/passwd', 'input.url.scheme'],
    ['http://0.0.0.0:{port}/clip.mp4', 'input.url.private'],
    ['http://0:{port}/clip.mp4', 'input.url.private'],
    ['http://[::]:{port}/clip.mp4', 'input.url.private'],
    ['http://0x7f000001:{port}/clip.mp4', 'input.url.private'],
    ['http://0177.0.0.1:{port}/clip.mp4', 'input.url.private'],
    ['http://127.000.000.001:{port}/clip.mp4', 'input.url.private'],
    ['http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/clip.mp4', 'input.url.private'],
    ['http://169.254.169.254/latest/meta-data/', 'input.url.private'],
    ['http://[::ffff:a9fe:a9fe]/latest/meta-data/', 'input.url.private'],
    ['http://100.100.100.200/latest/meta-data/', 'input.url.private'],
    ['http://192.168.1.1/admin', 'input.url.private'],
    ['http://[fe80::1]/', 'input.url.private'],
    ['http://[fc00::1]/', 'input.url.private'],
    ['http://user:pass@example.com/clip.mp4', 'input.url.credentials'],
    ['gopher://127.0.0.1:6379/_INFO', 'input.url.scheme'],
    ['ftp://example.com/clip.mp4', 'input.url.scheme'],
    ['data:video/mp4;base64,AAAAIGZ0eXBpc29t', 'input.url.scheme'],
  ])('refuses %s before any fetch: %s', async (template, code) => {
    tried++;
    const url = template.replace('{port}', String(port));
    const res = await api('/api/tasks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { url }, steps: [{ op: 'probe' }] }),
    });
    expect(res.status).toBe(400);
    expect(await codeOf(res)).toBe(code);
    handled++;
  });

  it('answers 413 to an upload larger than MAX_UPLOAD_BYTES', async () => {
    // Under wrangler dev the local proxy reads the whole body before the Worker sees the request, so
    // all of it is sent there. npm start's engine hands the request to the Worker at once, which
    // answers without reading the body and closes the connection: the client then stops sending
    // (a write after that close fails with EPIPE, which is not the answer). The workerd suite checks
    // that the Worker answers without reading it.
    tried++;
    const size = 100 * 1024 * 1024 + 1;
    const chunk = Buffer.alloc(1024 * 1024);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      let status = 0;
      const req = httpRequest(
        new URL('/api/uploads?filename=big.mp4', baseUrl()).href,
        { method: 'POST', headers: { 'content-length': String(size) } },
        (res) => {
          status = res.statusCode ?? 0;
          let body = '';
          res.on('data', (c) => {
            body += c;
          });
          res.on('end', () => {
            resolve({ status, body });
            req.destroy();
          });
        },
      );
      req.on('error', (err) => {
        if (status === 0) reject(err);
      });
      let left = size;
      const pump = () => {
        while (left > 0 && status === 0) {
          const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= piece.length;
          if (!req.write(piece)) return void req.once('drain', pump);
        }
        if (left === 0) req.end();
      };
      // the first megabyte, then a pause in which an early answer arrives before the rest is sent
      req.write(chunk);
      left -= chunk.length;
      setTimeout(pump, 500);
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).error.code).toBe('upload.too_large');
    handled++;
  });

  it('sniffs uploads: bytes that only claim to be media fail as media.unsupported', async () => {
    tried++;
    const up = await api('/api/uploads?filename=clip.mp4', {
      method: 'POST',
      headers: { 'content-type': 'video/mp4' },
      body: randomBytes(32 * 1024),
    });
    expect(up.status).toBe(201);
    const { id: upload } = (await up.json()) as { id: string };
    const { id } = await createTask({ input: { upload }, steps: [{ op: 'audio' }], maxAttempts: 1 });
    const s = await waitForStatus(id, ['failed', 'succeeded'], 60_000);
    expect(s.error?.code).toBe('media.unsupported');
    handled++;
  });

  it('keeps only a safe name of a hostile upload filename', async () => {
    tried++;
    const name = '../../.ssh/authorized_keys"\r\nX-Evil: 1';
    const up = await api(`/api/uploads?filename=${encodeURIComponent(name)}`, { method: 'POST', body: 'x' });
    expect(up.status).toBe(201);
    expect(((await up.json()) as { filename: string }).filename).toBe('authorized_keysX-Evil 1');
    handled++;
  });

  it('refuses expired, forged and re-targeted links to a real output', async () => {
    const { id } = await createTask({ input: { url: mediaUrl('clip.mp4') }, steps: [{ op: 'thumbnail' }] });
    const s = await waitForStatus(id, ['succeeded', 'failed'], 60_000);
    expect(s.status).toBe('succeeded');
    const { res, link } = await downloadOutput(id, s.outputs[0]?.name ?? 'thumbnail.jpg');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const good = new URL(link);
    const key = decodeURIComponent(good.pathname.slice('/files/'.length));
    const expired = await signLink(devLinkSecret(), key, 60, Date.now() - 7_200_000);
    const forged = await signLink('not-the-secret', key, 60);
    const rows: [string, string][] = [
      [expired.path, 'link.expired'],
      [forged.path, 'link.invalid'],
      [`/files/tasks/${id}/other.jpg${good.search}`, 'link.invalid'],
      [
        `${good.pathname}?exp=${Number(good.searchParams.get('exp')) + 60}&sig=${good.searchParams.get('sig')}`,
        'link.invalid',
      ],
      [`${good.pathname}?exp=${good.searchParams.get('exp')}`, 'link.invalid'],
      // the same signature on other keys: traversal, encoded traversal, an upload's key
      [`/files/tasks/${id}/%2e%2e/%2e%2e/uploads/x${good.search}`, 'link.invalid'],
      [`/files/uploads/${id}${good.search}`, 'link.invalid'],
      [
        `${good.pathname}?exp=${good.searchParams.get('exp')}&sig=${'0'.repeat(64)}&sig=${good.searchParams.get('sig')}`,
        'link.invalid',
      ],
      [
        `${good.pathname}?exp=${good.searchParams.get('exp')}&sig=${good.searchParams.get('sig')?.toUpperCase()}`,
        'link.invalid',
      ],
    ];
    for (const [path, code] of rows) {
      tried++;
      const r = await api(path);
      expect(r.status).toBe(403);
      expect(await codeOf(r)).toBe(code);
      handled++;
    }
  });
});

describe('ids, headers and bodies a client controls', () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    api('/api/tasks', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const task = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ input: { url: mediaUrl('clip.mp4') }, steps: [{ op: 'probe' }], ...extra });
  const rows: [string, () => Promise<Response>, number, string][] = [
    ['a task id that walks up the path', () => api('/api/tasks/..%2F..%2Fbatches'), 404, 'task.not_found'],
    ['a task id of 5000 characters', () => api(`/api/tasks/${'a'.repeat(5000)}`), 404, 'task.not_found'],
    [
      'deleting a task that does not exist',
      () => api('/api/tasks/t_doesnotexist0000', { method: 'DELETE' }),
      404,
      'task.not_found',
    ],
    [
      'an Idempotency-Key of 5000 characters',
      () => post(task(), { 'idempotency-key': 'k'.repeat(5000) }),
      400,
      'request.invalid',
    ],
    ['a JSON body of 1 MB', () => post(task({ note: 'x'.repeat(1024 * 1024) })), 413, 'request.invalid'],
    [
      'a JSON body nested 100000 deep',
      () => post(`${'['.repeat(100_000)}${']'.repeat(100_000)}`),
      400,
      'request.invalid',
    ],
    ['a body that is not JSON', () => post('{"input": '), 400, 'request.invalid_json'],
    [
      'a URL of 5000 characters',
      () =>
        post(JSON.stringify({ input: { url: `http://example.com/${'a'.repeat(5000)}` }, steps: [{ op: 'probe' }] })),
      400,
      'input.invalid',
    ],
  ];
  it.each(rows)('%s', async (_name, send, status, code) => {
    tried++;
    const res = await send();
    expect(res.status).toBe(status);
    expect(await codeOf(res)).toBe(code);
    handled++;
  });
});
