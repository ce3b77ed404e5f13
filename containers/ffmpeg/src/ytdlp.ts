/**
 * Sites (a page, not a media file) go through yt-dlp when it is installed: one video, no playlists,
 * progress parsed from a template we give it, errors mapped to stable codes.
 *
 * Used by the pipeline when a URL answers with an HTML page.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { EgressProxy } from './egress-proxy.ts';
import { type Job, JobError } from './job.ts';
import { publicText } from './tool-errors.ts';
import { runTool } from './tools.ts';

const MARK = 'clipyard-progress';

/** Parse one progress line printed through our template; null for any other line. Pure. */
export function parseYtDlpProgress(
  line: string,
): { bytes: number; totalBytes?: number; bytesPerSecond?: number; eta?: number } | null {
  const m = new RegExp(`^${MARK} (\\S+) (\\S+) (\\S+) (\\S+) (\\S+)`).exec(line.trim());
  if (!m) return null;
  const num = (s: string | undefined) => {
    const n = Number(s);
    return Number.isFinite(n) && n >= 0 ? n : undefined;
  };
  const bytes = num(m[1]);
  if (bytes === undefined) return null;
  const total = num(m[2]) ?? num(m[3]);
  const speed = num(m[4]);
  const eta = num(m[5]);
  return {
    bytes,
    ...(total ? { totalBytes: Math.round(total) } : {}),
    ...(speed !== undefined ? { bytesPerSecond: Math.round(speed) } : {}),
    ...(eta !== undefined ? { eta: Math.round(eta) } : {}),
  };
}

/** Map what yt-dlp printed on failure to a stable error. Pure. */
export function ytDlpError(stderr: string): JobError {
  const msg = publicText(/ERROR:\s*(.+)/.exec(stderr)?.[1] ?? stderr.trim().split('\n').at(-1) ?? '').slice(0, 300);
  if (/Requested format is not available/i.test(stderr)) return new JobError('media.format_unavailable', msg);
  if (/Unsupported URL/i.test(stderr))
    return new JobError('media.unsupported', `not a media page yt-dlp knows (${msg})`);
  if (/HTTP Error 404|not found|Video unavailable|removed/i.test(stderr)) return new JobError('source.not_found', msg);
  if (/HTTP Error 403|HTTP Error 401|Sign in|private video|login/i.test(stderr))
    return new JobError('source.forbidden', msg);
  if (/HTTP Error 429|Too Many Requests/i.test(stderr)) return new JobError('source.rate_limited', msg, true);
  if (/HTTP Error 5\d\d/i.test(stderr)) return new JobError('source.server_error', msg, true);
  if (/timed out|Connection reset|Temporary failure|Unable to download webpage/i.test(stderr)) {
    return new JobError('source.unreachable', msg, true);
  }
  return new JobError('media.unsupported', `yt-dlp could not fetch this page (${msg})`);
}

let egress: Promise<{ proxy: EgressProxy; url: string }> | null = null;

/** The runner's one egress proxy for yt-dlp, started on first use. */
function egressProxy(allowHosts: readonly string[]): Promise<{ proxy: EgressProxy; url: string }> {
  egress ??= (async () => {
    const proxy = new EgressProxy(allowHosts);
    return { proxy, url: await proxy.listen() };
  })();
  return egress;
}

export async function downloadWithYtDlp(
  job: Job,
  url: string,
  format: string | undefined,
  maxBytes: number,
  timeoutMs: number,
  allowHosts: readonly string[],
  onProgress: (p: { bytes: number; totalBytes?: number; bytesPerSecond?: number; eta?: number }) => void,
): Promise<string> {
  const { proxy, url: proxyUrl } = await egressProxy(allowHosts);
  const refusedBefore = proxy.refusals.length;
  const args = [
    // Every connection yt-dlp opens goes through the SSRF-filtering proxy; its own downloaders
    // (not ffmpeg's, which would connect directly) fetch segmented formats.
    '--proxy',
    proxyUrl,
    '--downloader',
    'native',
    '--no-playlist',
    // A playlist or channel URL is listed, not downloaded: it is a batch's job (see below).
    '--flat-playlist',
    '--newline',
    '--no-part',
    '--no-mtime',
    '--no-config',
    '--max-filesize',
    String(maxBytes),
    '-f',
    format ?? 'bv*[height<=1080]+ba/b',
    '-o',
    'input.%(ext)s',
    '--progress-template',
    `download:${MARK} %(progress.downloaded_bytes)s %(progress.total_bytes)s %(progress.total_bytes_estimate)s %(progress.speed)s %(progress.eta)s`,
    '--',
    url,
  ];
  // yt-dlp skips a file past --max-filesize with a line on stdout and exits 0
  let tooLarge = false;
  let playlist = false;
  const r = await runTool(job, 'yt-dlp', args, {
    cwd: job.dir,
    timeoutMs,
    onLine: (line) => {
      if (/larger than max-filesize/i.test(line)) tooLarge = true;
      if (line.startsWith('[download] Downloading playlist:')) playlist = true;
      const p = parseYtDlpProgress(line);
      if (p) onProgress(p);
    },
  });
  if (r.code !== 0) {
    const refused = proxy.refusals.slice(refusedBefore).find((x) => x.code.startsWith('input.url'));
    if (refused)
      throw new JobError('input.url.private', `refused to follow the page to ${refused.target}: ${refused.message}`);
    throw ytDlpError(r.stderr);
  }
  const file = (await readdir(job.dir)).find((f) => f.startsWith('input.') && !f.endsWith('.part'));
  if (!file && tooLarge) {
    throw new JobError('source.too_large', `the media is larger than the input limit (${maxBytes} bytes)`);
  }
  if (!file && playlist) {
    throw new JobError(
      'input.url.playlist',
      'this URL is a playlist or channel: create a batch with POST /api/batches {"playlist": {"url": ...}, "steps": [...]}',
    );
  }
  if (!file) throw new JobError('media.unsupported', 'yt-dlp finished without a media file');
  return path.join(job.dir, file);
}
