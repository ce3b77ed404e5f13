/**
 * The `hls` op against real ffmpeg: a 30 s 720p clip to 720/480/360 gives three media playlists
 * whose segments keep close to the target length, cut at the same times in every rendition, each
 * opening on a keyframe and each decoding on its own (init section + fragment, through ffmpeg), and
 * a master playlist whose attributes match the streams. Also: renditions never go above the source,
 * and the media limits apply.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MediaPlaylist, parseMasterPlaylist, parseMediaPlaylist } from '../../src/lib/hls-playlist.ts';
import { type MediaServer, startMediaServer } from '../e2e/media-server.ts';
import {
  fetchOutput,
  ff,
  ffprobe,
  lastEvent,
  newJobId,
  runJobSpec,
  startTestRunner,
  type TestRunner,
} from './harness.ts';

let dir: string;
let media: MediaServer;
let t: TestRunner;
const SEGMENT_S = 4;
const FPS = 15;

/** Colour bars with a moving square (cheap to make and to encode, unlike testsrc), and a tone. */
function clip(file: string, size: string, seconds: number): void {
  const picture = `smptehdbars=size=${size}:rate=${FPS},drawbox=x='mod(t*300,iw-80)':y=ih/3:w=80:h=80:color=white:t=fill`;
  ff([
    ...['-f', 'lavfi', '-i', picture, '-f', 'lavfi', '-i', 'sine=frequency=440'],
    ...['-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'],
    ...['-c:a', 'aac', '-shortest', path.join(dir, file)],
  ]);
}

function keyframeTimes(file: string): number[] {
  const csv = execFileSync(
    'ffprobe',
    [
      ...['-v', 'error', '-select_streams', 'v:0', '-skip_frame', 'nokey'],
      ...['-show_entries', 'frame=pts_time', '-of', 'csv=p=0', file],
    ],
    { encoding: 'utf8' },
  );
  return csv
    .split('\n')
    .map((l) => Number.parseFloat(l))
    .filter(Number.isFinite);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-hls-'));
  clip('lecture-720p.mp4', '1280x720', 30);
  clip('small-360p.mp4', '640x360', 4);
  ff([
    ...['-f', 'lavfi', '-i', `smptehdbars=size=640x360:rate=${FPS}`, '-t', '4'],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', path.join(dir, 'silent-360p.mp4')],
  ]);
  media = await startMediaServer(dir);
  t = await startTestRunner();
});

afterAll(async () => {
  await t?.close();
  await media?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('hls op', () => {
  it('makes three aligned renditions of a 30 s 720p clip, each segment decodable, with a true master playlist', async () => {
    const jobId = newJobId('hls');
    const events = await runJobSpec(t.base, {
      jobId,
      step: { op: 'hls', renditions: [720, 480, 360], segmentSeconds: SEGMENT_S, quality: 'low' },
      input: { kind: 'url', url: `${media.base}/lecture-720p.mp4` },
    });
    expect(lastEvent(events)).toMatchObject({ type: 'done' });
    const progress = events.filter((e) => e.type === 'progress' && e.stage === 'transcoding');
    expect(progress.some((e) => e.type === 'progress' && e.realtime !== undefined && e.eta !== undefined)).toBe(true);
    const outputs = events.flatMap((e) => (e.type === 'output' ? [e.name] : []));
    expect(outputs.at(-1)).toBe('hls.m3u8');
    expect(outputs.sort()).toEqual(
      [
        'hls-360p.m3u8',
        'hls-360p.mp4',
        'hls-480p.m3u8',
        'hls-480p.mp4',
        'hls-720p.m3u8',
        'hls-720p.mp4',
        'hls.m3u8',
      ].sort(),
    );

    const master = parseMasterPlaylist(readFileSync(await fetchOutput(t.base, jobId, 'hls.m3u8', dir), 'utf8'));
    expect(master.map((v) => v.uri)).toEqual(['hls-720p.m3u8', 'hls-480p.m3u8', 'hls-360p.m3u8']);

    const starts: number[][] = [];
    for (const variant of master) {
      const height = Number(/(\d+)p/.exec(variant.uri)![1]);
      const playlist: MediaPlaylist = parseMediaPlaylist(
        readFileSync(await fetchOutput(t.base, jobId, variant.uri, dir), 'utf8'),
      );
      const mediaFile = await fetchOutput(t.base, jobId, `hls-${height}p.mp4`, dir);
      const probe = ffprobe(mediaFile);
      const video = probe.streams.find((s) => s.codec_type === 'video')!;
      expect(video.codec_name).toBe('h264');
      expect(probe.streams.some((s) => s.codec_type === 'audio' && s.codec_name === 'aac')).toBe(true);
      expect(variant.attributes.RESOLUTION).toBe(`${video.width}x${video.height}`);
      expect(video.height).toBe(height);
      expect(variant.attributes.CODECS).toMatch(/^avc1\.[0-9a-f]{6},mp4a\.40\.2$/);
      // BANDWIDTH is the peak segment rate: at least the file's mean rate, and not absurdly above it.
      const meanBps = (statSync(mediaFile).size * 8) / 30;
      expect(Number(variant.attributes.BANDWIDTH)).toBeGreaterThanOrEqual(meanBps * 0.95);
      expect(Number(variant.attributes.BANDWIDTH)).toBeLessThan(meanBps * 3);
      expect(Number(variant.attributes['AVERAGE-BANDWIDTH'])).toBeLessThanOrEqual(Number(variant.attributes.BANDWIDTH));

      // Segments within 10% of the target (the last one may be shorter).
      for (const s of playlist.segments.slice(0, -1))
        expect(Math.abs(s.duration - SEGMENT_S)).toBeLessThan(SEGMENT_S * 0.1);
      expect(playlist.segments.reduce((a, s) => a + s.duration, 0)).toBeCloseTo(30, 0);

      // Every segment starts on a keyframe.
      const keys = keyframeTimes(mediaFile);
      const first = keys[0] ?? 0;
      let at = 0;
      const mine: number[] = [];
      for (const s of playlist.segments) {
        mine.push(at);
        expect(keys.some((k) => Math.abs(k - first - at) < 0.02)).toBe(true);
        at += s.duration;
      }
      starts.push(mine);

      // Every segment decodes on its own: init section + that fragment, as a player appends them.
      const whole = readFileSync(mediaFile);
      const map = playlist.map!.byteRange!;
      const init = whole.subarray(map.offset, map.offset + map.length);
      for (const [i, s] of playlist.segments.entries()) {
        const r = s.byteRange!;
        const seg = path.join(dir, `${jobId}-${height}-${i}.mp4`);
        writeFileSync(seg, Buffer.concat([init, whole.subarray(r.offset, r.offset + r.length)]));
        const frames = execFileSync(
          'ffprobe',
          [
            ...['-v', 'error', '-select_streams', 'v:0', '-count_frames'],
            ...['-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', seg],
          ],
          { encoding: 'utf8' },
        );
        expect(Number(frames.trim())).toBeGreaterThan(Math.floor(s.duration * FPS) - 2);
      }
    }
    // Keyframe-aligned across renditions: the same cut times everywhere.
    expect(starts[1]).toEqual(starts[0]);
    expect(starts[2]).toEqual(starts[0]);
  });

  it('never goes above the source, and obeys the media limits', async () => {
    const jobId = newJobId('hls-small');
    const events = await runJobSpec(t.base, {
      jobId,
      step: { op: 'hls', renditions: [1080, 720, 360], segmentSeconds: 2, quality: 'low' },
      input: { kind: 'url', url: `${media.base}/small-360p.mp4` },
    });
    expect(lastEvent(events)).toMatchObject({ type: 'done' });
    const master = parseMasterPlaylist(readFileSync(await fetchOutput(t.base, jobId, 'hls.m3u8', dir), 'utf8'));
    expect(master.map((v) => v.attributes.RESOLUTION)).toEqual(['640x360']);
    expect(events.some((e) => e.type === 'log' && /left out 1080p, 720p/.test(e.message))).toBe(true);

    const tooLong = await runJobSpec(t.base, {
      jobId: newJobId('hls-long'),
      step: { op: 'hls' },
      input: { kind: 'url', url: `${media.base}/small-360p.mp4` },
      limits: { maxDurationSeconds: 2 },
    });
    expect(lastEvent(tooLong)).toMatchObject({ type: 'error', code: 'media.too_long' });
  });
  it('a silent video streams without an audio codec', async () => {
    const jobId = newJobId('hls-silent');
    const events = await runJobSpec(t.base, {
      jobId,
      step: { op: 'hls', renditions: [360], segmentSeconds: 2, quality: 'low' },
      input: { kind: 'url', url: `${media.base}/silent-360p.mp4` },
    });
    expect(lastEvent(events)).toMatchObject({ type: 'done' });
    const master = parseMasterPlaylist(readFileSync(await fetchOutput(t.base, jobId, 'hls.m3u8', dir), 'utf8'));
    expect(master[0]!.attributes.CODECS).toMatch(/^avc1\.[0-9a-f]{6}$/);
    const probe = ffprobe(await fetchOutput(t.base, jobId, 'hls-360p.mp4', dir));
    expect(probe.streams.map((s) => s.codec_type)).toEqual(['video']);
  });
});
