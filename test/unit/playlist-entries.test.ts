/** Reading yt-dlp's --flat-playlist JSON into a playlist's title and entries. */
import { describe, expect, it } from 'vitest';
import { parsePlaylistJson } from '../../containers/ffmpeg/src/playlist-entries.ts';

describe('playlist entries', () => {
  it('keeps http(s) entries up to the limit, without yt-dlp smuggle fragments', () => {
    const json = JSON.stringify({
      _type: 'playlist',
      title: 'My channel',
      entries: [
        { url: 'https://example.com/a.mp4#__youtubedl_smuggle=%7B%7D', title: 'A' },
        { url: 'dQw4w9WgXcQ', title: 'an id, not a URL' },
        { url: 'file:///etc/passwd', title: 'not http' },
        { url: 'https://example.com/watch?v=b', title: 'B', playlist_index: 7 },
        { url: 'https://example.com/c', title: 'C' },
      ],
    });
    const r = parsePlaylistJson(json, 2);
    expect(r).toEqual({
      title: 'My channel',
      isPlaylist: true,
      entries: [
        { index: 1, url: 'https://example.com/a.mp4', title: 'A' },
        { index: 7, url: 'https://example.com/watch?v=b', title: 'B' },
      ],
    });
  });

  it('lists a single video as one entry', () => {
    const r = parsePlaylistJson(JSON.stringify({ _type: 'video', title: 'One', webpage_url: 'https://x.test/v' }), 50);
    expect(r).toEqual({
      title: 'One',
      isPlaylist: false,
      entries: [{ index: 1, url: 'https://x.test/v', title: 'One' }],
    });
  });
});
