/**
 * POST /playlists on the runner: list a playlist's or channel's entries without downloading them
 * (`yt-dlp --flat-playlist -J`), for the Worker to turn into a batch. Every connection yt-dlp opens
 * goes through an SSRF-filtering egress proxy, like downloads (egress-proxy.ts), and the URL itself
 * is checked first with the same rules as inputs.
 *
 * Body: {url, limit, items?}; answers a PlaylistListing, or {error} with a stable code.
 */
import { execFile } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkUrl } from '../../../src/lib/url-safety.ts';
import type { ErrorCode } from '../../../src/protocol/errors.ts';
import { playlistSchema } from '../../../src/protocol/playlist.ts';
import type { RunnerConfig } from './config.ts';
import { EgressProxy } from './egress-proxy.ts';
import { parsePlaylistJson } from './playlist-entries.ts';
import { ytDlpError } from './ytdlp.ts';

const LIST_TIMEOUT_MS = 60_000;
const MAX_BODY_BYTES = 16 * 1024;
const MAX_STDOUT_BYTES = 32 * 1024 * 1024;

let egress: Promise<{ proxy: EgressProxy; url: string }> | null = null;

function proxyFor(allowHosts: readonly string[]) {
  egress ??= (async () => {
    const proxy = new EgressProxy(allowHosts);
    return { proxy, url: await proxy.listen() };
  })();
  return egress;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function fail(res: ServerResponse, status: number, code: ErrorCode, message: string, retryable = false): void {
  send(res, status, { error: { code, message, retryable } });
}

export async function handlePlaylist(req: IncomingMessage, res: ServerResponse, config: RunnerConfig): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return fail(res, 413, 'request.invalid', 'the request is too large');
    chunks.push(chunk);
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
  } catch {
    return fail(res, 400, 'request.invalid', 'not JSON');
  }
  const parsed = playlistSchema.required({ limit: true }).safeParse(raw);
  if (!parsed.success) return fail(res, 400, 'request.invalid', parsed.error.issues[0]?.message ?? 'invalid');
  const { url, limit, items } = parsed.data;
  const check = checkUrl(url, config.allowHosts);
  if (!check.ok) return fail(res, 400, check.code, check.message);

  const { proxy, url: proxyUrl } = await proxyFor(config.allowHosts);
  const refusedBefore = proxy.refusals.length;
  const args = [
    '--no-config',
    '--proxy',
    proxyUrl,
    '--flat-playlist',
    '-J',
    '--playlist-end',
    String(limit),
    ...(items ? ['--playlist-items', items] : []),
    '--',
    check.url.href,
  ];
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      'yt-dlp',
      args,
      {
        timeout: LIST_TIMEOUT_MS,
        maxBuffer: MAX_STDOUT_BYTES,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' } as unknown as NodeJS.ProcessEnv,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
  if (result.code !== 0) {
    const refused = proxy.refusals.slice(refusedBefore).find((r) => r.code.startsWith('input.url'));
    if (refused) return fail(res, 400, 'input.url.private', `refused to follow the page to ${refused.target}`);
    if (result.code === null && result.stderr === '') {
      return fail(res, 504, 'source.timeout', 'listing the playlist took too long', true);
    }
    const e = ytDlpError(result.stderr);
    return fail(res, 422, e.code === 'media.unsupported' ? 'playlist.unreadable' : e.code, e.message, e.retryable);
  }
  try {
    return send(res, 200, parsePlaylistJson(result.stdout, limit));
  } catch {
    return fail(res, 502, 'playlist.unreadable', 'yt-dlp printed something that is not a playlist');
  }
}
