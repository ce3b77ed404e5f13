/**
 * Turn what `yt-dlp --flat-playlist -J` printed into a playlist's title and entries. Pure.
 *
 * Entries keep only http(s) URLs (yt-dlp's internal `#__youtubedl_smuggle` fragment removed); a URL
 * that is a single video lists as one entry with isPlaylist false.
 */
import type { PlaylistEntry, PlaylistListing } from '../../../src/protocol/playlist.ts';

type Info = Record<string, unknown>;

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);

function entryUrl(e: Info): string | null {
  for (const candidate of [e.url, e.webpage_url, e.original_url]) {
    const s = str(candidate);
    if (!s) continue;
    try {
      const u = new URL(s);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') continue;
      if (u.hash.includes('__youtubedl_smuggle')) u.hash = '';
      return u.href;
    } catch {
      /* not a URL: an extractor-specific id */
    }
  }
  return null;
}

export function parsePlaylistJson(stdout: string, limit: number): PlaylistListing {
  const info = JSON.parse(stdout) as Info;
  if (info._type !== 'playlist' || !Array.isArray(info.entries)) {
    const url = entryUrl(info);
    return {
      title: str(info.title),
      isPlaylist: false,
      entries: url ? [{ index: 1, url, title: str(info.title) }] : [],
    };
  }
  const entries: PlaylistEntry[] = [];
  (info.entries as unknown[]).forEach((raw, i) => {
    if (entries.length >= limit || !raw || typeof raw !== 'object') return;
    const e = raw as Info;
    const url = entryUrl(e);
    if (url)
      entries.push({
        index: typeof e.playlist_index === 'number' ? e.playlist_index : i + 1,
        url,
        title: str(e.title),
      });
  });
  return { title: str(info.title), isPlaylist: true, entries };
}
