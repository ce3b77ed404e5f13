/**
 * HLS playlists through signed links. A player knows only the master playlist's link; every URI in
 * a stored playlist is a bare sibling name (`hls-720p.m3u8`, `hls-720p.mp4`), which on its own would
 * resolve to an unsigned /files URL and be refused. So a playlist reached by a valid signed link is
 * served rewritten: each media playlist it names becomes its own signed /files link (served
 * rewritten in turn), each media file a signed link (or an R2 presigned URL when those are
 * configured). Segments are byte ranges of the media files, served by /files with Range, ETag and
 * caching headers like any download.
 *
 * A rewritten playlist's links are good for the link TTL from the moment it is fetched, so a long
 * video keeps playing; the playlist's own link still expires as signed, and deleting the task
 * deletes every file the links point at. Called by routes/files.ts for `.m3u8` keys.
 */
import { MAX_PLAYLIST_BYTES, playlistUris, rewritePlaylist } from '../../lib/hls-playlist.ts';
import { signLink } from '../../lib/links.ts';
import { presignR2Get } from '../../lib/r2-presign.ts';
import { linkSecrets, r2Credentials, taskConfig } from '../../objects/config.ts';
import { ClipyardError } from '../../protocol/errors.ts';
import { contentTypeFor } from '../../protocol/ops.ts';

export const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
/** A sibling file of the playlist: no path, no scheme, no dot-dot. */
const SIBLING = /^[\w][\w.-]{0,199}$/;
/** Players may keep a VOD playlist briefly; its links live far longer than this. */
const PLAYLIST_MAX_AGE_S = 60;

export function isPlaylistKey(key: string): boolean {
  return key.toLowerCase().endsWith('.m3u8');
}

/** Headers that let a player on any site read a signed link (the link itself is the credential). */
export function corsHeaders(headers: Headers): void {
  headers.set('access-control-allow-origin', '*');
  headers.set('access-control-expose-headers', 'content-length, content-range, accept-ranges, etag');
}

/** Signed links for every URI `text` names, relative to the playlist's folder; null for a bad name. */
async function signedUris(env: Env, folder: string, text: string): Promise<Map<string, string | null>> {
  const secret = linkSecrets(env)[0];
  if (!secret) throw new ClipyardError('link.invalid', 'signed links are not configured', { status: 403 });
  const ttl = taskConfig(env).linkTtlSeconds;
  const r2 = r2Credentials(env);
  const out = new Map<string, string | null>();
  for (const uri of playlistUris(text)) {
    if (!SIBLING.test(uri) || uri.includes('..')) {
      out.set(uri, null);
      continue;
    }
    const key = `${folder}${uri}`;
    if (!isPlaylistKey(uri) && r2) {
      out.set(uri, await presignR2Get(r2, key, ttl, { filename: uri, contentType: contentTypeFor(uri) }));
    } else out.set(uri, (await signLink(secret, key, ttl)).path);
  }
  return out;
}

/** Serve a stored playlist with every URI rewritten to a signed link. */
export async function servePlaylist(env: Env, key: string, method: string, object: R2Object): Promise<Response> {
  if (object.size > MAX_PLAYLIST_BYTES) {
    throw new ClipyardError('media.output_invalid', 'this playlist is too large to serve', { status: 500 });
  }
  const body = await env.BUCKET.get(key);
  if (!body) throw new ClipyardError('output.not_found', 'this file no longer exists', { status: 404 });
  const text = await body.text();
  const folder = key.slice(0, key.lastIndexOf('/') + 1);
  const links = await signedUris(env, folder, text);
  let rewritten: string;
  try {
    rewritten = rewritePlaylist(text, (uri) => links.get(uri) ?? null);
  } catch (err) {
    throw new ClipyardError('media.output_invalid', err instanceof Error ? err.message : String(err), { status: 500 });
  }
  const headers = new Headers({
    'content-type': PLAYLIST_TYPE,
    'cache-control': `private, max-age=${PLAYLIST_MAX_AGE_S}`,
    'x-content-type-options': 'nosniff',
    'content-length': String(new TextEncoder().encode(rewritten).length),
  });
  corsHeaders(headers);
  return new Response(method === 'HEAD' ? null : rewritten, { status: 200, headers });
}
