/**
 * A local HTTP server standing in for "some website with a media file": serves generated media with
 * Content-Length and Range, plus a few misbehaving routes for failure tests.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface MediaServer {
  base: string;
  server: Server;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.mp4': 'video/mp4',
  '.txt': 'text/plain',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
};

export async function startMediaServer(dir: string): Promise<MediaServer> {
  const counters = new Map<string, number>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const name = decodeURIComponent(url.pathname.slice(1));
    // /flaky/<n>/<file>: answers 503 n times (per path), then the file
    const flaky = /^flaky\/(\d+)\/(.+)$/.exec(name);
    if (flaky) {
      const seen = counters.get(name) ?? 0;
      counters.set(name, seen + 1);
      if (seen < Number(flaky[1])) {
        res.writeHead(503).end('try later');
        return;
      }
    }
    const file = path.join(dir, path.basename(flaky ? flaky[2]! : name));
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
    // /slow/<file>: trickles the file so a test can act mid-download
    if (name.startsWith('slow/')) {
      res.writeHead(200, { 'content-type': type, 'content-length': size });
      const stream = createReadStream(file, { highWaterMark: 64 * 1024 });
      stream.on('data', (chunk) => {
        stream.pause();
        res.write(chunk, () => setTimeout(() => stream.resume(), 200));
      });
      stream.on('end', () => res.end());
      return;
    }
    res.writeHead(200, { 'content-type': type, 'content-length': size, 'accept-ranges': 'bytes' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    server,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
