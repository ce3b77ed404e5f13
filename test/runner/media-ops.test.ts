/**
 * The media runner's new ops against real ffmpeg: clip (copy and re-encode), thumbnail "auto" and
 * the contact sheet, render (slides fetched by URL + audio + subtitles burned or muxed), with the
 * multi-file job body. Each test posts a job to an in-process runner and checks the result with
 * ffprobe, as a user would.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseFrame, parseFrameStats } from '../../containers/ffmpeg/src/ops/frame-pick.ts';
import { imageKind } from '../../containers/ffmpeg/src/ops/render.ts';
import { encodeJobHeader } from '../../src/protocol/runner.ts';
import { type MediaServer, startMediaServer } from '../e2e/media-server.ts';
import {
  fetchOutput,
  ff,
  ffprobe,
  lastEvent,
  meanLuma,
  newJobId,
  readEvents,
  runJobSpec,
  startTestRunner,
  type TestRunner,
} from './harness.ts';

let dir: string;
let media: MediaServer;
let t: TestRunner;
const url = (name: string) => `${media.base}/${name}`;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-ops-'));
  // 6 s of test pattern with a tone, a keyframe every second
  ff([
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=320x240:rate=25',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440',
    '-t',
    '6',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    '25',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-shortest',
    path.join(dir, 'pattern.mp4'),
  ]);
  // 3 s of black, then 2 s of colour: the default thumbnail time (10% in) lands on black
  ff([
    '-f',
    'lavfi',
    '-i',
    'color=c=black:size=320x240:rate=25:duration=3',
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=320x240:rate=25:duration=2',
    '-filter_complex',
    '[0:v][1:v]concat=n=2:v=1[v]',
    '-map',
    '[v]',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-pix_fmt',
    'yuv420p',
    path.join(dir, 'black-start.mp4'),
  ]);
  for (const [i, colour] of ['red', 'green', 'blue'].entries()) {
    ff(['-f', 'lavfi', '-i', `color=c=${colour}:size=400x300`, '-frames:v', '1', path.join(dir, `slide${i}.png`)]);
  }
  ff(['-f', 'lavfi', '-i', 'sine=frequency=330:sample_rate=44100', '-t', '3', path.join(dir, 'tone.wav')]);
  writeFileSync(
    path.join(dir, 'subs.srt'),
    '1\n00:00:00,200 --> 00:00:01,500\nHello <b>there</b>\n\n2\n00:00:01,600 --> 00:00:04,000\n{\\an8}Second line\n',
  );
  media = await startMediaServer(dir);
  t = await startTestRunner();
});

afterAll(async () => {
  await t?.close();
  await media?.close();
  rmSync(dir, { recursive: true, force: true });
});

const duration = (file: string) => Number(ffprobe(file).format.duration);

describe('clip', () => {
  it('copies the streams between start and end, keeping the container', async () => {
    const jobId = newJobId('clip-copy');
    const events = await runJobSpec(t.base, {
      jobId,
      step: { op: 'clip', start: 1, end: 3 },
      input: { kind: 'url', url: url('pattern.mp4') },
    });
    expect(lastEvent(events)).toMatchObject({ type: 'done' });
    expect(events.some((e) => e.type === 'progress' && e.stage === 'clipping')).toBe(true);
    const out = await fetchOutput(t.base, jobId, 'clip.mp4', dir);
    expect(duration(out)).toBeGreaterThan(1.8);
    expect(duration(out)).toBeLessThan(2.3);
    expect(
      ffprobe(out)
        .streams.map((s) => s.codec_type)
        .sort(),
    ).toEqual(['audio', 'video']);
  });

  it('re-encodes frame-accurately when asked', async () => {
    const jobId = newJobId('clip-reencode');
    const events = await runJobSpec(t.base, {
      jobId,
      step: { op: 'clip', start: 1.48, end: 3.52, reencode: true },
      input: { kind: 'url', url: url('pattern.mp4') },
    });
    expect(lastEvent(events)).toMatchObject({ type: 'done' });
    const out = await fetchOutput(t.base, jobId, 'clip.mp4', dir);
    expect(Math.abs(duration(out) - 2.04)).toBeLessThan(0.1);
  });

  it('refuses a start past the end with a clear error', async () => {
    const events = await runJobSpec(t.base, {
      jobId: newJobId('clip-late'),
      step: { op: 'clip', start: 60 },
      input: { kind: 'url', url: url('pattern.mp4') },
    });
    expect(lastEvent(events)).toMatchObject({ type: 'error', code: 'step.invalid', retryable: false });
  });
});

describe('thumbnail auto and contact sheet', () => {
  it('"auto" picks a frame with picture in it, where the default time gives black', async () => {
    const fixed = newJobId('thumb-default');
    expect(
      lastEvent(
        await runJobSpec(t.base, {
          jobId: fixed,
          step: { op: 'thumbnail' },
          input: { kind: 'url', url: url('black-start.mp4') },
        }),
      ),
    ).toMatchObject({ type: 'done' });
    expect(meanLuma(await fetchOutput(t.base, fixed, 'thumbnail.jpg', dir))).toBeLessThan(20);

    const auto = newJobId('thumb-auto');
    const events = await runJobSpec(t.base, {
      jobId: auto,
      step: { op: 'thumbnail', time: 'auto', width: 160 },
      input: { kind: 'url', url: url('black-start.mp4') },
    });
    expect(lastEvent(events)).toMatchObject({ type: 'done' });
    const out = events.find((e) => e.type === 'output');
    expect(out).toMatchObject({ name: 'thumbnail.jpg', meta: { auto: true } });
    expect((out as unknown as { meta: { time: number } }).meta.time).toBeGreaterThanOrEqual(3);
    const file = await fetchOutput(t.base, auto, 'thumbnail.jpg', dir);
    expect(meanLuma(file)).toBeGreaterThan(40);
    expect(ffprobe(file).streams[0]).toMatchObject({ width: 160 });
  });

  it('makes a contact sheet of columns x rows frames', async () => {
    const jobId = newJobId('sheet');
    const events = await runJobSpec(t.base, {
      jobId,
      step: { op: 'thumbnail', width: 640, sheet: { columns: 3, rows: 2 } },
      input: { kind: 'url', url: url('pattern.mp4') },
    });
    expect(lastEvent(events)).toMatchObject({ type: 'done' });
    expect(events.filter((e) => e.type === 'output').map((e) => (e as { name: string }).name)).toEqual([
      'thumbnail.jpg',
      'sheet.jpg',
    ]);
    const sheet = ffprobe(await fetchOutput(t.base, jobId, 'sheet.jpg', dir)).streams[0]!;
    // three tiles across (each ~ 640/3 wide with padding), two down at the source's 4:3
    expect(sheet.width).toBeGreaterThan(600);
    expect(sheet.width).toBeLessThan(680);
    expect(sheet.height).toBeGreaterThan(300);
    expect(sheet.height).toBeLessThan(340);
  });

  it('scores frames: never a black or blank one when a lively one exists', () => {
    const stats = parseFrameStats([
      'frame:0    pts:0       pts_time:0',
      'lavfi.signalstats.YAVG=16.0',
      'lavfi.signalstats.YLOW=16',
      'lavfi.signalstats.YHIGH=17',
      'lavfi.signalstats.SATAVG=0',
      'frame:1    pts:25      pts_time:1',
      'lavfi.signalstats.YAVG=120.5',
      'lavfi.signalstats.YLOW=30',
      'lavfi.signalstats.YHIGH=220',
      'lavfi.signalstats.SATAVG=40',
      'frame:2    pts:50      pts_time:2',
      'lavfi.signalstats.YAVG=250',
      'lavfi.signalstats.YLOW=245',
      'lavfi.signalstats.YHIGH=255',
      'lavfi.signalstats.SATAVG=0',
    ]);
    expect(stats.map((s) => s.time)).toEqual([0, 1, 2]);
    expect(chooseFrame(stats)).toBe(1);
    expect(chooseFrame([])).toBeNull();
  });
});

describe('render', () => {
  it('renders slides fetched by URL and a tone into an mp4 of the right size and length, subtitles burned in', async () => {
    const jobId = newJobId('render-burn');
    const events = await runJobSpec(t.base, {
      jobId,
      step: {
        op: 'render',
        images: [0, 1, 2].map((i) => ({ url: url(`slide${i}.png`) })),
        secondsPerImage: 1.5,
        fade: 0.3,
        width: 320,
        height: 240,
        subtitles: { url: url('subs.srt') },
      },
      input: { kind: 'url', url: url('tone.wav') },
      extraInputs: [
        ...[0, 1, 2].map((i) => ({ name: `image-${i}`, kind: 'url', url: url(`slide${i}.png`) })),
        { name: 'subtitles', kind: 'url', url: url('subs.srt') },
      ],
    });
    expect(lastEvent(events)).toMatchObject({ type: 'done' });
    expect(events.some((e) => e.type === 'progress' && e.stage === 'rendering')).toBe(true);
    const out = await fetchOutput(t.base, jobId, 'render.mp4', dir);
    const p = ffprobe(out);
    const video = p.streams.find((s) => s.codec_type === 'video')!;
    expect(video).toMatchObject({ codec_name: 'h264', width: 320, height: 240 });
    expect(p.streams.some((s) => s.codec_type === 'audio')).toBe(true);
    expect(Math.abs(Number(p.format.duration) - 4.5)).toBeLessThan(0.15);
  });

  it('takes slides and subtitles from the job body, fits them to the audio, and muxes the subtitles', async () => {
    const slides = [0, 1].map((i) => readFileSync(path.join(dir, `slide${i}.png`)));
    const tone = readFileSync(path.join(dir, 'tone.wav'));
    const subs = readFileSync(path.join(dir, 'subs.srt'));
    const jobId = newJobId('render-mux');
    const spec = {
      jobId,
      step: {
        op: 'render',
        images: [{ upload: 'a'.repeat(20) }, { upload: 'b'.repeat(20) }],
        width: 256,
        height: 144,
        subtitles: { upload: 'c'.repeat(20) },
        subtitlesMode: 'mux',
      },
      input: { kind: 'body', filename: 'tone.wav', size: tone.length },
      extraInputs: [
        { name: 'image-0', kind: 'body', filename: 'a.bin', size: slides[0]!.length },
        { name: 'image-1', kind: 'body', filename: 'b.bin', size: slides[1]!.length },
        { name: 'subtitles', kind: 'body', filename: 'subs.srt', size: subs.length },
      ],
    };
    const body = Buffer.concat([tone, slides[0]!, slides[1]!, subs]);
    const res = await fetch(`${t.base}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'x-clipyard-job': encodeJobHeader(spec as never) },
      body,
    });
    expect(res.status).toBe(202);
    const events = await readEvents(t.base, jobId);
    expect(lastEvent(events)).toMatchObject({ type: 'done' });
    const p = ffprobe(await fetchOutput(t.base, jobId, 'render.mp4', dir));
    expect(p.streams.find((s) => s.codec_type === 'video')).toMatchObject({ width: 256, height: 144 });
    expect(p.streams.find((s) => s.codec_type === 'subtitle')).toMatchObject({ codec_name: 'mov_text' });
    expect(Math.abs(Number(p.format.duration) - 3)).toBeLessThan(0.15);
  });

  it('refuses a body that is shorter than the declared inputs', async () => {
    const spec = {
      jobId: newJobId('render-short'),
      step: { op: 'render', images: [{ upload: 'a'.repeat(20) }] },
      input: { kind: 'body', filename: 'tone.wav', size: 10 },
      extraInputs: [{ name: 'image-0', kind: 'body', filename: 'a.bin', size: 1000 }],
    };
    const res = await fetch(`${t.base}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'x-clipyard-job': encodeJobHeader(spec as never) },
      body: Buffer.alloc(500),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('upload.incomplete');
  });

  it('names a slide that is not an image', async () => {
    writeFileSync(path.join(dir, 'fake.png'), 'not an image at all');
    const events = await runJobSpec(t.base, {
      jobId: newJobId('render-bad'),
      step: { op: 'render', images: [{ url: url('slide0.png') }, { url: url('fake.png') }] },
      input: { kind: 'url', url: url('tone.wav') },
      extraInputs: [
        { name: 'image-0', kind: 'url', url: url('slide0.png') },
        { name: 'image-1', kind: 'url', url: url('fake.png') },
      ],
    });
    expect(lastEvent(events)).toMatchObject({ type: 'error', code: 'media.unsupported' });
    expect((lastEvent(events) as { message: string }).message).toContain('images[1]');
  });

  it('sniffs image bytes, not names', () => {
    const png = readFileSync(path.join(dir, 'slide0.png'));
    expect(imageKind(png)).toBe('png');
    expect(imageKind(Buffer.from('RIFF\0\0\0\0WEBPVP8 '))).toBe('webp');
    expect(imageKind(Buffer.from('<svg xmlns='))).toBeNull();
    expect(statSync(path.join(dir, 'slide0.png')).size).toBeGreaterThan(0);
    expect(createHash('sha1').update(png).digest('hex')).toHaveLength(40);
  });
});
