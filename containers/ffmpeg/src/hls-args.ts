/**
 * The `hls` op's plan and ffmpeg arguments, pure: which renditions to make (never above the source),
 * and one ffmpeg run that splits the decoded video, scales and encodes each rendition with keyframes
 * forced on the same segment grid, and muxes each into one fMP4 file addressed by byte ranges
 * (a constant handful of files however long the input: one media file and one playlist per rendition).
 *
 * Used by ops/hls.ts; covered by test/runner/hls-args.test.ts.
 */
import { HLS_RENDITIONS, type Step } from '../../../src/protocol/ops.ts';
import { ffmpegHead, safeInput } from './ffmpeg-args.ts';

type HlsStep = Extract<Step, { op: 'hls' }>;

/** Peak video bit rate per rendition height (capped CRF: simple scenes take less), kbit/s. */
export const MAXRATE_KBPS: Record<number, number> = { 1080: 5_000, 720: 2_800, 480: 1_400, 360: 800 };
/** Audio bit rate in every rendition, kbit/s. */
export const AUDIO_KBPS = 128;
const X264 = { low: ['ultrafast', '26'], medium: ['veryfast', '23'], high: ['medium', '21'] } as const;

/** Output names of one rendition (also the files' names in the job directory and in R2). */
export function renditionNames(height: number): { playlist: string; media: string } {
  return { playlist: `hls-${height}p.m3u8`, media: `hls-${height}p.mp4` };
}
export const MASTER_NAME = 'hls.m3u8';

/**
 * The heights to encode, highest first: the asked ones (default: the whole ladder) that are not above
 * the source. A source smaller than the smallest asked rendition gets one rendition at its own height.
 */
export function planRenditions(requested: readonly number[] | undefined, sourceHeight: number | null): number[] {
  const asked = [...new Set(requested ?? HLS_RENDITIONS)].sort((a, b) => b - a);
  if (sourceHeight === null) return asked;
  const fit = asked.filter((h) => h <= sourceHeight);
  if (fit.length > 0) return fit;
  return [Math.max(2, Math.floor(sourceHeight / 2) * 2)];
}

/** Frames per keyframe interval; null when the frame rate is unknown (forced keyframes still align). */
export function gopFrames(segmentSeconds: number, fps: number | null): number | null {
  return fps && Number.isFinite(fps) && fps > 0 ? Math.max(1, Math.round(segmentSeconds * fps)) : null;
}

export function hlsArgs(
  step: HlsStep,
  input: string,
  dir: string,
  media: { heights: readonly number[]; hasAudio: boolean; fps: number | null },
): string[] {
  const { heights, hasAudio } = media;
  const n = heights.length;
  const graph =
    n === 1
      ? `[0:v:0]scale=-2:${heights[0]}[v0]`
      : [
          `[0:v:0]split=${n}${heights.map((_, i) => `[s${i}]`).join('')}`,
          ...heights.map((h, i) => `[s${i}]scale=-2:${h}[v${i}]`),
        ].join(';');
  const [preset, crf] = X264[step.quality];
  const gop = gopFrames(step.segmentSeconds, media.fps);
  const perRendition = heights.flatMap((h, i) => {
    const max = MAXRATE_KBPS[h] ?? Math.max(300, Math.round(h * 3));
    return [`-maxrate:v:${i}`, `${max}k`, `-bufsize:v:${i}`, `${max * 2}k`];
  });
  return [
    ...ffmpegHead(),
    ...safeInput(input),
    '-filter_complex',
    graph,
    ...heights.flatMap((_, i) => ['-map', `[v${i}]`, ...(hasAudio ? ['-map', '0:a:0'] : [])]),
    '-c:v',
    'libx264',
    '-preset',
    preset,
    '-crf',
    crf,
    ...perRendition,
    '-pix_fmt',
    'yuv420p',
    // The same keyframe grid in every rendition: a player can switch at any segment boundary.
    '-sc_threshold',
    '0',
    '-force_key_frames',
    `expr:gte(t,n_forced*${step.segmentSeconds})`,
    ...(gop ? ['-g', String(gop), '-keyint_min', String(gop)] : []),
    ...(hasAudio ? ['-c:a', 'aac', '-b:a', `${AUDIO_KBPS}k`, '-ac', '2'] : []),
    '-sn',
    '-dn',
    '-f',
    'hls',
    '-hls_time',
    String(step.segmentSeconds),
    '-hls_playlist_type',
    'vod',
    '-hls_segment_type',
    'fmp4',
    '-hls_flags',
    'single_file+independent_segments',
    '-var_stream_map',
    heights.map((h, i) => `v:${i}${hasAudio ? `,a:${i}` : ''},name:${h}p`).join(' '),
    '-hls_segment_filename',
    `${dir}/hls-%v.mp4`,
    `${dir}/hls-%v.m3u8`,
  ];
}

/** ffprobe a rendition file: its video stream and the time of every keyframe (decoding only those). */
export function keyframeProbeArgs(file: string): string[] {
  return [
    '-v',
    'error',
    '-print_format',
    'json',
    '-select_streams',
    'v:0',
    '-skip_frame',
    'nokey',
    '-show_entries',
    'stream=codec_name,width,height,avg_frame_rate:frame=pts_time,key_frame',
    '-show_frames',
    '-protocol_whitelist',
    'file',
    '-i',
    file,
  ];
}
