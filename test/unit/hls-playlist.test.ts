/**
 * HLS playlist parsing, writing and rewriting (src/lib/hls-playlist.ts): what the runner's check and
 * the Worker's signed-link rewrite rely on.
 */
import { describe, expect, it } from 'vitest';
import {
  avcCodecString,
  bitRates,
  masterPlaylist,
  parseMasterPlaylist,
  parseMediaPlaylist,
  playlistUris,
  rewritePlaylist,
} from '../../src/lib/hls-playlist.ts';

const MEDIA = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="hls-480p.mp4",BYTERANGE="1340@0"
#EXTINF:4.000000,
#EXT-X-BYTERANGE:156835@1340
hls-480p.mp4
#EXTINF:4.000000,
#EXT-X-BYTERANGE:147289
hls-480p.mp4
#EXTINF:1.500000,
#EXT-X-BYTERANGE:40000@305464
hls-480p.mp4
#EXT-X-ENDLIST
`;

describe('media playlists', () => {
  it('reads segments, byte ranges (an omitted offset continues the previous range) and the init map', () => {
    const p = parseMediaPlaylist(MEDIA);
    expect(p.targetDuration).toBe(4);
    expect(p.endList).toBe(true);
    expect(p.map).toEqual({ uri: 'hls-480p.mp4', byteRange: { length: 1340, offset: 0 } });
    expect(p.segments.map((s) => s.byteRange)).toEqual([
      { length: 156835, offset: 1340 },
      { length: 147289, offset: 158175 },
      { length: 40000, offset: 305464 },
    ]);
    expect(p.segments.map((s) => s.duration)).toEqual([4, 4, 1.5]);
  });

  it('refuses what is not a media playlist', () => {
    expect(() => parseMediaPlaylist('hello')).toThrow(/EXTM3U/);
    expect(() => parseMediaPlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:4\nseg.ts\n')).toThrow(/EXTINF/);
    expect(() => parseMediaPlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-ENDLIST\n')).toThrow(/no segments/);
    expect(() => parseMediaPlaylist('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n')).toThrow(/master/);
  });

  it('peak bit rate is the busiest segment, mean is bytes over time', () => {
    const p = parseMediaPlaylist(MEDIA);
    const { peak, average } = bitRates(p, (s) => s.byteRange!.length);
    expect(peak).toBeCloseTo((156835 * 8) / 4, 0);
    expect(average).toBeCloseTo(((156835 + 147289 + 40000) * 8) / 9.5, 0);
  });
});

describe('master playlists', () => {
  it('writes variants highest first with the attributes a player needs, and reads them back', () => {
    const text = masterPlaylist([
      {
        uri: 'hls-360p.m3u8',
        bandwidth: 900_000.4,
        averageBandwidth: 700_000,
        width: 640,
        height: 360,
        codecs: 'avc1.42c01e,mp4a.40.2',
      },
      {
        uri: 'hls-720p.m3u8',
        bandwidth: 3_000_000,
        averageBandwidth: 2_000_000,
        width: 1280,
        height: 720,
        codecs: 'avc1.64001f,mp4a.40.2',
        frameRate: 30,
      },
    ]);
    const variants = parseMasterPlaylist(text);
    expect(variants.map((v) => v.uri)).toEqual(['hls-720p.m3u8', 'hls-360p.m3u8']);
    expect(variants[0]!.attributes).toEqual({
      BANDWIDTH: '3000000',
      'AVERAGE-BANDWIDTH': '2000000',
      RESOLUTION: '1280x720',
      CODECS: 'avc1.64001f,mp4a.40.2',
      'FRAME-RATE': '30.000',
    });
    expect(variants[1]!.attributes.BANDWIDTH).toBe('900000');
  });

  it('codec strings come from the avcC bytes', () => {
    expect(avcCodecString(0x64, 0x00, 0x1f)).toBe('avc1.64001f');
    expect(avcCodecString(66, 192, 30)).toBe('avc1.42c01e');
  });
});

describe('rewriting URIs', () => {
  it('replaces segment lines and URI attributes, keeps every tag', () => {
    expect(playlistUris(MEDIA)).toEqual(['hls-480p.mp4']);
    const out = rewritePlaylist(MEDIA, (u) => `/files/tasks/x/${u}?exp=1&sig=s`);
    expect(out).toContain('#EXT-X-MAP:URI="/files/tasks/x/hls-480p.mp4?exp=1&sig=s",BYTERANGE="1340@0"');
    expect(out.split('\n').filter((l) => l.startsWith('/files/'))).toHaveLength(3);
    const tags = (t: string) => t.split('\n').filter((l) => l.startsWith('#') && !l.startsWith('#EXT-X-MAP'));
    expect(tags(out)).toEqual(tags(MEDIA));
    expect(parseMediaPlaylist(out).segments[2]!.byteRange).toEqual({ length: 40000, offset: 305464 });
  });

  it('fails rather than pass on a URI it was not given a link for', () => {
    expect(() => rewritePlaylist('#EXTM3U\nhttps://evil.example/x.ts\n', () => null)).toThrow(
      /not part of this output/,
    );
  });
});
