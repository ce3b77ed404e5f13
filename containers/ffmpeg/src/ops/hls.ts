/**
 * `hls`: an adaptive stream. One ffmpeg run encodes every rendition (never above the source) with
 * keyframes on one segment grid; each rendition is one fMP4 file plus a media playlist of byte
 * ranges into it. Then the op checks its own work before announcing anything: every playlist parses,
 * every listed segment lies inside its file and starts a fragment, a decoded keyframe opens every
 * segment, and the renditions cut at the same times. Last it writes the master playlist from what it
 * measured (peak and mean bit rate, resolution, codecs from the init section) and announces the
 * files, master last: hls.m3u8 is the output a player opens.
 */
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  avcCodecString,
  bitRates,
  type MediaPlaylist,
  masterPlaylist,
  parseMediaPlaylist,
  type Variant,
} from '../../../../src/lib/hls-playlist.ts';
import type { Step } from '../../../../src/protocol/ops.ts';
import { hlsArgs, keyframeProbeArgs, MASTER_NAME, planRenditions, renditionNames } from '../hls-args.ts';
import { type Job, JobError } from '../job.ts';
import { runFfmpeg } from '../media.ts';
import { lastLine, runTool } from '../tools.ts';
import type { OpContext, OpHandler } from './op-context.ts';

type HlsStep = Extract<Step, { op: 'hls' }>;

/** Share of the op's bar the encode takes; the check takes the rest. */
const ENCODE_SHARE = 0.95;
const PROBE_TIMEOUT_MS = 120_000;
/** A segment starts within this of a keyframe (half a frame at 24 fps, with rounding to spare). */
const KEYFRAME_TOLERANCE_S = 0.021;
/** Every rendition's audio is AAC-LC. */
const AUDIO_CODEC = 'mp4a.40.2';

interface Rendition {
  height: number;
  playlistFile: string;
  mediaFile: string;
  playlist: MediaPlaylist;
  width: number;
  measuredHeight: number;
  frameRate: number | null;
  codecs: string;
  peak: number;
  average: number;
}

function invalid(what: string): JobError {
  return new JobError('media.output_invalid', `the HLS output failed its check: ${what}`);
}

function frameRateOf(raw: string | undefined): number | null {
  const m = /^(\d+)\/(\d+)$/.exec(raw ?? '');
  if (!m || Number(m[2]) === 0) return null;
  const fps = Number(m[1]) / Number(m[2]);
  return fps > 0 && fps < 1000 ? fps : null;
}

/** The source's frame rate from the probe (ffprobe reports avg_frame_rate on each stream). */
function sourceFps(ctx: OpContext<HlsStep>): number | null {
  const v = ctx.input.info.probe.streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic) as
    | { avg_frame_rate?: string }
    | undefined;
  return frameRateOf(v?.avg_frame_rate);
}

type ReadAt = (offset: number, length: number) => Promise<Buffer>;

/** Run `fn` with a reader of byte ranges of `file` (one open file for every range). */
async function withReader<T>(file: string, fn: (readAt: ReadAt) => Promise<T>): Promise<T> {
  const fh = await open(file, 'r');
  try {
    return await fn(async (offset, length) => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    });
  } finally {
    await fh.close();
  }
}

/**
 * The top-level MP4 boxes that exactly tile `length` bytes at `offset`, or null when they do not
 * (a range that cuts a box in two is not a segment a player can append).
 */
async function boxesIn(readAt: ReadAt, offset: number, length: number): Promise<string[] | null> {
  const types: string[] = [];
  let at = offset;
  const end = offset + length;
  while (at < end) {
    const head = await readAt(at, 16);
    if (head.length < 8) return null;
    let size = head.readUInt32BE(0);
    if (size === 1 && head.length >= 16) size = Number(head.readBigUInt64BE(8));
    if (size < 8 || at + size > end) return null;
    types.push(head.toString('latin1', 4, 8));
    at += size;
  }
  return types;
}

/** Codec string from the init section's avcC box. */
function codecsFromInit(init: Buffer, hasAudio: boolean): string {
  const i = init.indexOf('avcC');
  if (i < 0 || i + 8 > init.length) throw invalid('the init section has no H.264 configuration');
  const video = avcCodecString(init[i + 5]!, init[i + 6]!, init[i + 7]!);
  return hasAudio ? `${video},${AUDIO_CODEC}` : video;
}

/** Parse, range-check and keyframe-check one rendition. */
async function checkRendition(job: Job, height: number, hasAudio: boolean, timeoutMs: number): Promise<Rendition> {
  const names = renditionNames(height);
  const playlistFile = path.join(job.dir, names.playlist);
  const mediaFile = path.join(job.dir, names.media);
  let playlist: MediaPlaylist;
  try {
    playlist = parseMediaPlaylist(await readFile(playlistFile, 'utf8'));
  } catch (err) {
    throw invalid(`${names.playlist} does not parse (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!playlist.endList) throw invalid(`${names.playlist} has no #EXT-X-ENDLIST`);
  if (!playlist.map?.byteRange || playlist.map.uri !== names.media) throw invalid(`${names.playlist} has no init map`);
  const { size } = await stat(mediaFile);
  const map = { uri: playlist.map.uri, byteRange: playlist.map.byteRange };
  const codecs = await withReader(mediaFile, async (readAt) => {
    for (const [n, s] of [map, ...playlist.segments].entries()) {
      const r = s.byteRange;
      if (s.uri !== names.media || !r) throw invalid(`${names.playlist} entry ${n} is not a range of ${names.media}`);
      if (r.length <= 8 || r.offset + r.length > size)
        throw invalid(`${names.playlist} entry ${n} is outside the file`);
      const boxes = await boxesIn(readAt, r.offset, r.length);
      const want = n === 0 ? ['ftyp', 'moov'] : ['moof', 'mdat'];
      if (!boxes || !want.every((b) => boxes.includes(b))) {
        throw invalid(`${names.playlist} entry ${n} is not a whole ${n === 0 ? 'init section' : 'fragment'}`);
      }
    }
    return codecsFromInit(await readAt(map.byteRange.offset, map.byteRange.length), hasAudio);
  });

  const r = await runTool(job, 'ffprobe', keyframeProbeArgs(mediaFile), {
    cwd: job.dir,
    captureStdout: true,
    timeoutMs: Math.min(PROBE_TIMEOUT_MS, timeoutMs),
  });
  if (r.code !== 0) throw invalid(`${names.media} does not decode (${lastLine(r.stderr)})`);
  const probe = JSON.parse(r.stdout) as {
    streams?: { width?: number; height?: number; codec_name?: string; avg_frame_rate?: string }[];
    frames?: { pts_time?: string; key_frame?: number }[];
  };
  const stream = probe.streams?.[0];
  if (stream?.codec_name !== 'h264' || !stream.width || !stream.height)
    throw invalid(`${names.media} has no H.264 video`);
  const keyframes = (probe.frames ?? []).filter((f) => f.key_frame === 1).map((f) => Number(f.pts_time));
  const first = keyframes[0] ?? 0;
  let start = 0;
  for (const [n, s] of playlist.segments.entries()) {
    if (!keyframes.some((k) => Math.abs(k - first - start) <= KEYFRAME_TOLERANCE_S)) {
      throw invalid(`${names.media} segment ${n} (at ${start.toFixed(3)} s) does not open with a decodable keyframe`);
    }
    start += s.duration;
  }
  const { peak, average } = bitRates(playlist, (s) => s.byteRange?.length ?? 0);
  return {
    height,
    playlistFile,
    mediaFile,
    playlist,
    width: stream.width,
    measuredHeight: stream.height,
    frameRate: frameRateOf(stream.avg_frame_rate),
    codecs,
    peak,
    average,
  };
}

/** Every rendition cuts its segments at the same times (so a player can switch between any two). */
function checkAligned(renditions: readonly Rendition[]): void {
  const [head, ...rest] = renditions;
  if (!head) return;
  for (const r of rest) {
    const a = head.playlist.segments;
    const b = r.playlist.segments;
    if (a.length !== b.length) throw invalid(`${r.height}p has ${b.length} segments, ${head.height}p has ${a.length}`);
    let ta = 0;
    let tb = 0;
    for (let i = 0; i < a.length; i++) {
      if (Math.abs(ta - tb) > KEYFRAME_TOLERANCE_S * 2) throw invalid(`segment ${i} of ${r.height}p is not aligned`);
      ta += a[i]!.duration;
      tb += b[i]!.duration;
    }
  }
}

export const hls: OpHandler<HlsStep> = async (ctx) => {
  const { info } = ctx.input;
  if (!info.hasVideo) throw new JobError('media.no_video', 'the input has no video stream');
  const heights = planRenditions(ctx.step.renditions, info.height);
  const skipped = (ctx.step.renditions ?? []).filter((h) => !heights.includes(h));
  if (skipped.length > 0) {
    ctx.job.log('info', `left out ${skipped.map((h) => `${h}p`).join(', ')}: above the source's ${info.height}p`);
  }
  const label = `encoding ${heights.map((h) => `${h}p`).join(' + ')} for HLS`;
  ctx.progress('transcoding', 0, { message: label });
  const args = hlsArgs(ctx.step, ctx.input.path, ctx.job.dir, {
    heights,
    hasAudio: info.hasAudio,
    fps: sourceFps(ctx),
  });
  await runFfmpeg(ctx.job, args, info.duration, ctx.timeLeftMs(), (p) =>
    ctx.progress('transcoding', p.fraction * ENCODE_SHARE, {
      message: label,
      ...(p.realtime !== undefined ? { realtime: p.realtime } : {}),
      ...(p.eta !== undefined ? { eta: p.eta } : {}),
    }),
  );

  ctx.progress('transcoding', ENCODE_SHARE, { message: 'checking every playlist and segment' });
  const renditions: Rendition[] = [];
  for (const h of heights) renditions.push(await checkRendition(ctx.job, h, info.hasAudio, ctx.timeLeftMs()));
  checkAligned(renditions);

  const variants: Variant[] = renditions.map((r) => ({
    uri: renditionNames(r.height).playlist,
    bandwidth: r.peak,
    averageBandwidth: r.average,
    width: r.width,
    height: r.measuredHeight,
    codecs: r.codecs,
    ...(r.frameRate ? { frameRate: r.frameRate } : {}),
  }));
  const masterFile = path.join(ctx.job.dir, MASTER_NAME);
  await writeFile(masterFile, masterPlaylist(variants));

  for (const r of renditions) {
    const names = renditionNames(r.height);
    await ctx.output(r.mediaFile, names.media, { hls: 'media', height: r.measuredHeight });
    await ctx.output(r.playlistFile, names.playlist, { hls: 'playlist', segments: r.playlist.segments.length });
  }
  await ctx.output(masterFile, MASTER_NAME, {
    hls: 'master',
    renditions: renditions.map((r) => `${r.width}x${r.measuredHeight}`),
    segmentSeconds: ctx.step.segmentSeconds,
  });
};
