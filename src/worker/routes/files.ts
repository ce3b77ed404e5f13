/**
 * GET /files/<key>?exp&sig: signed, expiring downloads served from R2 with Range, ETag,
 * Content-Type and a safe Content-Disposition filename. 403 on a bad or expired signature.
 */
import { Hono } from 'hono';
import { contentDisposition, safeContentType } from '../../lib/filenames.ts';
import { verifyLink } from '../../lib/links.ts';
import { linkSecrets } from '../../objects/config.ts';
import { ClipyardError } from '../../protocol/errors.ts';
import type { AppEnv } from '../auth.ts';
import { corsHeaders, isPlaylistKey, servePlaylist } from './hls-playlists.ts';

export const files = new Hono<AppEnv>();

function parseRange(header: string, size: number): { offset: number; length: number } | null | 'invalid' {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  if (m[1] === '') {
    const suffix = Math.min(Number(m[2]), size);
    if (suffix === 0) return 'invalid';
    return { offset: size - suffix, length: suffix };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'invalid';
  return { offset: start, length: end - start + 1 };
}

// A player on another site asks before sending Range; the signed link is what authorizes the read.
files.options('/*', () => {
  const headers = new Headers({
    'access-control-allow-methods': 'GET, HEAD',
    'access-control-allow-headers': 'range, if-range, if-none-match',
    'access-control-max-age': '86400',
  });
  corsHeaders(headers);
  return new Response(null, { status: 204, headers });
});

files.on(['GET', 'HEAD'], '/*', async (c) => {
  const url = new URL(c.req.url);
  const rawKey = url.pathname.replace(/^\/files\//, '');
  let key: string;
  try {
    key = rawKey.split('/').map(decodeURIComponent).join('/');
  } catch {
    throw new ClipyardError('link.invalid', 'this download link is not valid', { status: 403 });
  }
  const check = await verifyLink(linkSecrets(c.env), key, url.searchParams.get('exp'), url.searchParams.get('sig'));
  if (!check.ok) {
    const message =
      check.code === 'link.expired' ? 'this download link has expired' : 'this download link is not valid';
    throw new ClipyardError(check.code, message, { status: 403 });
  }
  const head = await c.env.BUCKET.head(key);
  if (!head) throw new ClipyardError('output.not_found', 'this file no longer exists', { status: 404 });
  if (isPlaylistKey(key)) return servePlaylist(c.env, key, c.req.method, head);

  const headers = new Headers();
  corsHeaders(headers);
  const type = head.httpMetadata?.contentType ?? 'application/octet-stream';
  headers.set('content-type', safeContentType(type));
  headers.set('content-disposition', contentDisposition(key.split('/').pop() ?? 'download'));
  headers.set('x-content-type-options', 'nosniff');
  headers.set('content-security-policy', "default-src 'none'; media-src 'self'; img-src 'self'; sandbox");
  headers.set('accept-ranges', 'bytes');
  headers.set('etag', head.httpEtag);
  headers.set('cache-control', 'private, max-age=300');
  headers.set('last-modified', head.uploaded.toUTCString());

  const ifNoneMatch = c.req.header('if-none-match');
  if (ifNoneMatch && ifNoneMatch === head.httpEtag) return new Response(null, { status: 304, headers });

  const rangeHeader = c.req.header('range');
  const ifRange = c.req.header('if-range');
  const useRange = rangeHeader && (!ifRange || ifRange === head.httpEtag);
  if (useRange) {
    const range = parseRange(rangeHeader, head.size);
    if (range === 'invalid' || range === null) {
      headers.set('content-range', `bytes */${head.size}`);
      return new Response(null, { status: 416, headers });
    }
    headers.set('content-range', `bytes ${range.offset}-${range.offset + range.length - 1}/${head.size}`);
    headers.set('content-length', String(range.length));
    if (c.req.method === 'HEAD') return new Response(null, { status: 206, headers });
    const object = await c.env.BUCKET.get(key, { range });
    if (!object) throw new ClipyardError('output.not_found', 'this file no longer exists', { status: 404 });
    return new Response(object.body, { status: 206, headers });
  }
  headers.set('content-length', String(head.size));
  if (c.req.method === 'HEAD') return new Response(null, { status: 200, headers });
  const object = await c.env.BUCKET.get(key);
  if (!object) throw new ClipyardError('output.not_found', 'this file no longer exists', { status: 404 });
  return new Response(object.body, { status: 200, headers });
});
