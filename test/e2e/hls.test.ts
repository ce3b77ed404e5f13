/**
 * An HLS output through the Worker, as a player meets it: it knows only the master playlist's link,
 * follows every URI in it (media playlists, init sections, segments as byte ranges) with no other
 * credential, and each segment decodes. A tampered or expired playlist or segment link is 403, and
 * deleting the task takes every file the links pointed at with it.
 */
import { describe, expect, it } from 'vitest';
import { type MediaPlaylist, parseMasterPlaylist, parseMediaPlaylist } from '../../src/lib/hls-playlist.ts';
import { signLink } from '../../src/lib/links.ts';
import { api, baseUrl, createTask, devLinkSecret, ffprobeBytes, mediaUrl, waitForStatus } from './client.ts';

const absolute = (uri: string) => new URL(uri, baseUrl()).href;

function tamper(link: string): string {
  return link.replace(/sig=([^&])/, (_m, c: string) => `sig=${c === 'A' ? 'B' : 'A'}`);
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

describe('hls through signed links', () => {
  it('plays from the master link alone; tampered and expired links are 403; delete revokes every segment', async () => {
    const { id } = await createTask({
      input: { url: mediaUrl('clip.mp4') },
      steps: [{ op: 'hls', renditions: [480, 360], segmentSeconds: 2, quality: 'low' }],
    });
    const s = await waitForStatus(id, ['succeeded', 'failed'], 120_000);
    expect(s.status, s.error?.message).toBe('succeeded');
    const master = s.outputs.find((o) => o.name === 'hls.m3u8');
    expect(master?.url).toMatch(/\/files\/.+hls\.m3u8\?exp=\d+&sig=/);

    // The master playlist: content type, and every variant a signed link of its own.
    const res = await fetch(master!.url!);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const variants = parseMasterPlaylist(await res.text());
    expect(variants.map((v) => v.attributes.RESOLUTION)).toEqual(['854x480', '640x360']);

    const segmentLinks: string[] = [];
    for (const v of variants) {
      expect(v.uri).toMatch(/^\/files\/.+\?exp=\d+&sig=/);
      const r = await fetch(absolute(v.uri));
      expect(r.status).toBe(200);
      const playlist: MediaPlaylist = parseMediaPlaylist(await r.text());
      const mediaLink = absolute(playlist.map!.uri);
      expect(new Set(playlist.segments.map((x) => x.uri))).toEqual(new Set([playlist.map!.uri]));
      segmentLinks.push(mediaLink);

      // A player appends the init section, then a segment: both are byte ranges of the same link.
      const range = async (b: { offset: number; length: number }) => {
        const part = await fetch(mediaLink, { headers: { range: `bytes=${b.offset}-${b.offset + b.length - 1}` } });
        expect(part.status).toBe(206);
        expect(part.headers.get('content-type')).toBe('video/mp4');
        expect(part.headers.get('cache-control')).toContain('max-age');
        return new Uint8Array(await part.arrayBuffer());
      };
      const init = await range(playlist.map!.byteRange!);
      const segment = await range(playlist.segments[1]!.byteRange!);
      const joined = new Uint8Array(init.length + segment.length);
      joined.set(init);
      joined.set(segment, init.length);
      const probe = ffprobeBytes(joined, 'mp4');
      expect(probe.streams.find((x) => x.codec_type === 'video')?.codec_name).toBe('h264');
      expect(Number(probe.format.duration)).toBeGreaterThan(1);
    }

    // Tampered: a playlist link and a segment link.
    const badPlaylist = await fetch(absolute(tamper(variants[0]!.uri)));
    expect(badPlaylist.status).toBe(403);
    expect(await errorCode(badPlaylist)).toBe('link.invalid');
    const badSegment = await fetch(tamper(segmentLinks[0]!), { headers: { range: 'bytes=0-99' } });
    expect(badSegment.status).toBe(403);
    expect(await errorCode(badSegment)).toBe('link.invalid');
    // Expired (validly signed, in the past): the master and a segment.
    const key = (link: string) => decodeURIComponent(new URL(absolute(link)).pathname.replace(/^\/files\//, ''));
    for (const link of [master!.url!, segmentLinks[1]!]) {
      const old = await signLink(devLinkSecret(), key(link), 1, Date.now() - 10_000);
      const r = await fetch(`${baseUrl()}${old.path}`);
      expect(r.status).toBe(403);
      expect(await errorCode(r)).toBe('link.expired');
    }

    // Deleting the task deletes every file: the still-valid links find nothing.
    const del = await api(`/api/tasks/${id}`, { method: 'DELETE' });
    expect(del.status).toBeLessThan(300);
    for (const link of [master!.url!, absolute(variants[0]!.uri), ...segmentLinks]) {
      const r = await fetch(link);
      expect(r.status).toBe(404);
      await r.body?.cancel();
    }
  });
});
