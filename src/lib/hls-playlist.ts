/**
 * HLS playlists (RFC 8216), the small part of them clipyard writes and reads: parse a VOD media
 * playlist (segments, byte ranges, the init map), write a master playlist, and rewrite every URI in
 * a playlist (segment lines and `URI="..."` attributes) so a player follows signed links.
 *
 * Pure: the runner uses it to check its own output and write the master playlist, the Worker to serve
 * playlists through signed links. Covered by test/unit/hls-playlist.test.ts.
 */

export interface ByteRange {
  length: number;
  offset: number;
}

export interface MediaSegment {
  /** Seconds, from #EXTINF. */
  duration: number;
  uri: string;
  byteRange: ByteRange | null;
}

export interface MediaPlaylist {
  targetDuration: number;
  /** The init section (#EXT-X-MAP) of fMP4 segments, if any. */
  map: { uri: string; byteRange: ByteRange | null } | null;
  segments: MediaSegment[];
  endList: boolean;
}

export interface Variant {
  uri: string;
  /** Peak segment bit rate, bits/s. */
  bandwidth: number;
  /** Mean bit rate over the whole rendition, bits/s. */
  averageBandwidth: number;
  width: number;
  height: number;
  /** RFC 6381 codec strings, like "avc1.64001f,mp4a.40.2". */
  codecs: string;
  frameRate?: number;
}

/** Largest playlist the Worker reads into memory (a 4-hour VOD at 2 s segments is well under it). */
export const MAX_PLAYLIST_BYTES = 4 * 1024 * 1024;

/** `<n>[@<o>]`; without an offset the range starts where the previous one (of the same URI) ended. */
function parseByteRange(value: string, previousEnd: number | null): ByteRange | null {
  const m = /^(\d+)(?:@(\d+))?$/.exec(value.trim());
  if (!m) return null;
  const offset = m[2] !== undefined ? Number(m[2]) : previousEnd;
  if (offset === null) return null;
  return { length: Number(m[1]), offset };
}

/** The value of one attribute in an attribute list (`URI="a.mp4",BYTERANGE="12@0"`). */
function attribute(list: string, name: string): string | null {
  const re = new RegExp(`(?:^|,)${name}=("([^"]*)"|[^,]*)`);
  const m = re.exec(list);
  if (!m) return null;
  return m[2] ?? m[1] ?? null;
}

/** Parse a media playlist; throws an Error naming the first thing that is wrong. */
export function parseMediaPlaylist(text: string): MediaPlaylist {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') throw new Error('not a playlist: the first line is not #EXTM3U');
  let targetDuration = Number.NaN;
  let map: MediaPlaylist['map'] = null;
  const segments: MediaSegment[] = [];
  let endList = false;
  let duration: number | null = null;
  let range: string | null = null;
  let lastEnd: number | null = null;
  for (const [i, line] of lines.entries()) {
    if (!line) continue;
    if (line.startsWith('#EXT-X-TARGETDURATION:')) targetDuration = Number(line.slice(22));
    else if (line.startsWith('#EXTINF:')) {
      duration = Number.parseFloat(line.slice(8));
      if (!Number.isFinite(duration) || duration < 0) throw new Error(`line ${i + 1}: bad #EXTINF`);
    } else if (line.startsWith('#EXT-X-BYTERANGE:')) range = line.slice(17);
    else if (line.startsWith('#EXT-X-MAP:')) {
      const uri = attribute(line.slice(11), 'URI');
      if (!uri) throw new Error(`line ${i + 1}: #EXT-X-MAP without a URI`);
      const r = attribute(line.slice(11), 'BYTERANGE');
      const byteRange = r === null ? null : parseByteRange(r, 0);
      if (r !== null && !byteRange) throw new Error(`line ${i + 1}: bad BYTERANGE`);
      map = { uri, byteRange };
    } else if (line === '#EXT-X-ENDLIST') endList = true;
    else if (line.startsWith('#EXT-X-STREAM-INF')) throw new Error('a master playlist, not a media playlist');
    else if (!line.startsWith('#')) {
      if (duration === null) throw new Error(`line ${i + 1}: a segment without #EXTINF`);
      const byteRange: ByteRange | null = range === null ? null : parseByteRange(range, lastEnd);
      if (range !== null && !byteRange) throw new Error(`line ${i + 1}: bad #EXT-X-BYTERANGE`);
      segments.push({ duration, uri: line, byteRange });
      lastEnd = byteRange ? byteRange.offset + byteRange.length : null;
      duration = null;
      range = null;
    }
  }
  if (!Number.isFinite(targetDuration) || targetDuration <= 0) throw new Error('no #EXT-X-TARGETDURATION');
  if (segments.length === 0) throw new Error('no segments');
  return { targetDuration, map, segments, endList };
}

/** The variants of a master playlist (URI and attributes as written). */
export function parseMasterPlaylist(text: string): { uri: string; attributes: Record<string, string> }[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') throw new Error('not a playlist: the first line is not #EXTM3U');
  const out: { uri: string; attributes: Record<string, string> }[] = [];
  let pending: Record<string, string> | null = null;
  for (const line of lines) {
    if (line.startsWith('#EXT-X-STREAM-INF:')) {
      pending = {};
      for (const m of line.slice(18).matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) {
        pending[m[1]!] = m[2]!.replace(/^"|"$/g, '');
      }
    } else if (line && !line.startsWith('#') && pending) {
      out.push({ uri: line, attributes: pending });
      pending = null;
    }
  }
  if (out.length === 0) throw new Error('no #EXT-X-STREAM-INF variants');
  return out;
}

/** Write a master playlist, highest bandwidth first. */
export function masterPlaylist(variants: readonly Variant[]): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const v of [...variants].sort((a, b) => b.bandwidth - a.bandwidth)) {
    const attrs = [
      `BANDWIDTH=${Math.round(v.bandwidth)}`,
      `AVERAGE-BANDWIDTH=${Math.round(v.averageBandwidth)}`,
      `RESOLUTION=${v.width}x${v.height}`,
      `CODECS="${v.codecs}"`,
      ...(v.frameRate ? [`FRAME-RATE=${v.frameRate.toFixed(3)}`] : []),
    ];
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, v.uri);
  }
  return `${lines.join('\n')}\n`;
}

/** Peak and mean bit rates of a media playlist's segments, given the init section's size. */
export function bitRates(
  playlist: MediaPlaylist,
  segmentBytes: (s: MediaSegment) => number,
): {
  peak: number;
  average: number;
} {
  let peak = 0;
  let bytes = 0;
  let seconds = 0;
  for (const s of playlist.segments) {
    const size = segmentBytes(s);
    bytes += size;
    seconds += s.duration;
    // A very short last segment says little about the rate a player must sustain.
    if (s.duration >= 0.5) peak = Math.max(peak, (size * 8) / s.duration);
  }
  const average = seconds > 0 ? (bytes * 8) / seconds : 0;
  return { peak: Math.max(peak, average), average };
}

/** Every distinct URI a playlist references: segment lines and URI="..." attributes. */
export function playlistUris(text: string): string[] {
  const uris = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#')) {
      for (const m of line.matchAll(/URI="([^"]*)"/g)) uris.add(m[1]!);
    } else uris.add(line);
  }
  return [...uris];
}

/**
 * The same playlist with every URI replaced by `replace(uri)`. Comments and tags are kept as they
 * are; a URI `replace` leaves out (null) makes the whole rewrite fail, so a playlist never points a
 * player at something that was not vouched for.
 */
export function rewritePlaylist(text: string, replace: (uri: string) => string | null): string {
  const swap = (uri: string): string => {
    const next = replace(uri);
    if (next === null) throw new Error(`the playlist references ${uri}, which is not part of this output`);
    return next;
  };
  return text
    .split(/\r?\n/)
    .map((raw) => {
      const line = raw.trim();
      if (!line) return raw;
      if (line.startsWith('#')) return line.replace(/URI="([^"]*)"/g, (_m, uri: string) => `URI="${swap(uri)}"`);
      return swap(line);
    })
    .join('\n');
}

/** RFC 6381 string of an H.264 stream from its avcC box (profile, compatibility, level bytes). */
export function avcCodecString(profile: number, compatibility: number, level: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `avc1.${hex(profile)}${hex(compatibility)}${hex(level)}`;
}
