/**
 * The chaos suite's stand-in for "some website": serves generated media, and misbehaves on request.
 *
 *   /<file>               the file, with Content-Length
 *   /flaky/<n>/<file>     503 the first n times (counted per path), then the file
 *   /slow/<file>?kbps=n   the file trickled at n KB/s (default 160), so a test can act mid-download
 *   /page/<file>          an HTML page with a <video> pointing at /slow/<file> (48 KB/s): a "site" for yt-dlp
 *
 * Every request is counted per path, so a test can assert how often the runner came back.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface ChaosMediaServer {
  base: string;
  /** Requests seen per path (`/flaky/2/clip.mp4` -> 3). */
  hits(pathname: string): number;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { '.mp4': 'video/mp4', '.txt': 'text/plain' };
const TRICKLE_CHUNK_BYTES = 16 * 1024;
const DEFAULT_TRICKLE_KBPS = 160;
/** The video behind /page/<file> comes slowly, so yt-dlp is still downloading when a test acts. */
const PAGE_VIDEO_KBPS = 48;

export async function startChaosMediaServer(dir: string): Promise<ChaosMediaServer> {
  const counts = new Map<string, number>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const seen = counts.get(url.pathname) ?? 0;
    counts.set(url.pathname, seen + 1);
    const name = decodeURIComponent(url.pathname.slice(1));
    const page = /^page\/(.+)$/.exec(name);
    if (page) {
      const html = `<!doctype html><html><head><title>clip</title></head><body>
<video controls src="/slow/${encodeURIComponent(page[1]!)}?kbps=${PAGE_VIDEO_KBPS}"></video></body></html>`;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
      res.end(html);
      return;
    }
    const flaky = /^flaky\/(\d+)\/(.+)$/.exec(name);
    if (flaky && seen < Number(flaky[1])) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('try again later');
      return;
    }
    const file = path.join(dir, path.basename(name));
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
    res.writeHead(200, { 'content-type': type, 'content-length': size });
    if (!name.startsWith('slow/')) {
      createReadStream(file).pipe(res);
      return;
    }
    const kbps = Number(url.searchParams.get('kbps')) || DEFAULT_TRICKLE_KBPS;
    const pauseMs = (TRICKLE_CHUNK_BYTES / 1024 / kbps) * 1000;
    const stream = createReadStream(file, { highWaterMark: TRICKLE_CHUNK_BYTES });
    stream.on('data', (chunk) => {
      stream.pause();
      res.write(chunk, () => setTimeout(() => stream.resume(), pauseMs));
    });
    stream.on('end', () => res.end());
    res.on('close', () => stream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    hits: (pathname) => counts.get(pathname) ?? 0,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
