/**
 * ffmpeg argument builders: pure functions from a validated step to an argument array.
 *
 * Every input is opened with a protocol whitelist (local files only) and a demuxer whitelist (plain
 * media containers: no playlists, no concat lists, no device inputs), so a crafted file cannot make
 * ffmpeg read other files or reach the network. Covered by test/runner/ffmpeg-args.test.ts.
 */
import type { Step } from '../../../src/protocol/ops.ts';

type StepOf<O extends Step['op']> = Extract<Step, { op: O }>;

/** Demuxers a media input may use. Playlists (hls, dash), concat lists and devices are absent. */
export const INPUT_FORMATS = [
  'mov,mp4,m4a,3gp,3g2,mj2',
  'matroska,webm',
  'avi',
  'flv',
  'mpegts',
  'mpeg',
  'mpegvideo',
  'mp3',
  'aac',
  'ogg',
  'wav',
  'w64',
  'flac',
  'asf',
  'h264',
  'hevc',
  'm4v',
  'mjpeg',
  'gif',
  'amr',
  'aiff',
  'caf',
  'ac3',
  'eac3',
  'dts',
  'wv',
  'ape',
  'mxf',
  'rm',
  'nut',
  'ivf',
  'image2',
  'png_pipe',
  'jpeg_pipe',
  'webp_pipe',
  'bmp_pipe',
  'matroska',
  'webm',
  'mov',
  'mp4',
  'm4a',
];

/** Options that go before every `-i` of an untrusted file. */
export function safeInput(file: string): string[] {
  return [
    '-protocol_whitelist',
    'file',
    '-format_whitelist',
    [...new Set(INPUT_FORMATS.flatMap((f) => f.split(',')))].join(','),
    '-i',
    file,
  ];
}

/** Common head: quiet, machine-readable progress on stdout, never ask questions. */
export function ffmpegHead(): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-y',
    '-loglevel',
    'error',
    '-nostats',
    '-stats_period',
    '0.25',
    '-progress',
    'pipe:1',
  ];
}

export function ffprobeArgs(file: string): string[] {
  return ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', ...safeInput(file)];
}

const AUDIO_CODECS: Record<StepOf<'audio'>['format'], string[]> = {
  mp3: ['-c:a', 'libmp3lame'],
  m4a: ['-c:a', 'aac', '-movflags', '+faststart'],
  opus: ['-c:a', 'libopus'],
  wav: ['-c:a', 'pcm_s16le'],
  flac: ['-c:a', 'flac'],
};

const DEFAULT_BITRATE: Record<StepOf<'audio'>['format'], string | null> = {
  mp3: '192k',
  m4a: '160k',
  opus: '128k',
  wav: null,
  flac: null,
};

export function audioArgs(step: StepOf<'audio'>, input: string, output: string): string[] {
  const bitrate = step.bitrate ?? DEFAULT_BITRATE[step.format];
  return [
    ...ffmpegHead(),
    ...safeInput(input),
    '-map',
    '0:a:0',
    '-vn',
    '-sn',
    '-dn',
    ...AUDIO_CODECS[step.format],
    ...(bitrate ? ['-b:a', bitrate] : []),
    output,
  ];
}

/** The height a transcode scales to: the asked one, else the source's capped at 1080 (null: unchanged). */
export function transcodeHeight(step: StepOf<'transcode'>, sourceHeight: number | null): number | null {
  return step.height ?? (sourceHeight && sourceHeight > 1080 ? 1080 : null);
}

const X264_QUALITY = { low: ['veryfast', '28'], medium: ['veryfast', '23'], high: ['medium', '20'] } as const;
const VP9_QUALITY = { low: ['8', '40'], medium: ['6', '34'], high: ['4', '30'] } as const;

export function transcodeArgs(
  step: StepOf<'transcode'>,
  input: string,
  output: string,
  hasAudio: boolean,
  sourceHeight: number | null,
): string[] {
  const height = transcodeHeight(step, sourceHeight);
  const scale = height ? ['-vf', `scale=-2:${height}`] : [];
  const audio = hasAudio ? ['-map', '0:a:0?'] : [];
  if (step.format === 'webm') {
    const [cpu, crf] = VP9_QUALITY[step.quality];
    return [
      ...ffmpegHead(),
      ...safeInput(input),
      '-map',
      '0:v:0',
      ...audio,
      ...scale,
      '-c:v',
      'libvpx-vp9',
      '-deadline',
      'realtime',
      '-cpu-used',
      cpu,
      '-row-mt',
      '1',
      '-b:v',
      '0',
      '-crf',
      crf,
      '-pix_fmt',
      'yuv420p',
      ...(hasAudio ? ['-c:a', 'libopus', '-b:a', '128k'] : []),
      output,
    ];
  }
  const [preset, crf] = X264_QUALITY[step.quality];
  return [
    ...ffmpegHead(),
    ...safeInput(input),
    '-map',
    '0:v:0',
    ...audio,
    ...scale,
    '-c:v',
    'libx264',
    '-preset',
    preset,
    '-crf',
    crf,
    '-pix_fmt',
    'yuv420p',
    ...(hasAudio ? ['-c:a', 'aac', '-b:a', '128k'] : []),
    '-movflags',
    '+faststart',
    output,
  ];
}

/** Default thumbnail time: 10% in, at most 10 s. A time past the end is pulled back inside. */
export function thumbnailTime(requested: number | undefined, duration: number | null): number {
  if (duration === null || duration <= 0) return requested ?? 0;
  const latest = Math.max(0, duration - 0.1);
  return Math.min(requested ?? Math.min(10, duration * 0.1), latest);
}

export function thumbnailArgs(step: StepOf<'thumbnail'>, input: string, output: string, time: number): string[] {
  const filters = step.width ? [`scale=${step.width}:-2`] : [];
  return [
    ...ffmpegHead(),
    // An input seek to 0 makes the image demuxer (a still as input) yield no frame at all.
    ...(time > 0 ? ['-ss', time.toFixed(3)] : []),
    ...safeInput(input),
    '-map',
    '0:v:0',
    '-frames:v',
    '1',
    ...(filters.length ? ['-vf', filters.join(',')] : []),
    ...(step.format === 'webp' ? ['-c:v', 'libwebp', '-quality', '85'] : ['-q:v', '3']),
    '-update',
    '1',
    output,
  ];
}

/**
 * `clip`: seek with input options (`-ss`/`-to` before `-i`), then copy the streams (fast; the cut
 * lands on the keyframe at or before `start`) or re-encode to H.264/AAC (frame-accurate).
 */
export function clipArgs(
  step: StepOf<'clip'>,
  input: string,
  output: string,
  media: { hasVideo: boolean; end: number },
): string[] {
  const range = ['-ss', step.start.toFixed(3), '-to', media.end.toFixed(3)];
  const maps = [...(media.hasVideo ? ['-map', '0:v:0'] : []), '-map', '0:a?'];
  const faststart = /\.(mp4|m4a|mov)$/.test(output) ? ['-movflags', '+faststart'] : [];
  if (!step.reencode) {
    return [
      ...ffmpegHead(),
      ...range,
      ...safeInput(input),
      ...maps,
      '-c',
      'copy',
      '-avoid_negative_ts',
      'make_zero',
      ...faststart,
      output,
    ];
  }
  const video = media.hasVideo ? ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-pix_fmt', 'yuv420p'] : [];
  return [
    ...ffmpegHead(),
    ...range,
    ...safeInput(input),
    ...maps,
    ...video,
    '-c:a',
    'aac',
    '-b:a',
    '160k',
    '-sn',
    '-dn',
    ...faststart,
    output,
  ];
}

/**
 * `thumbnail` with `time: "auto"`: sample frames (small, a few per second; keyframes only for long
 * media) and print each one's brightness and spread, so the op can pick one that is not black, blank
 * or washed out. Output on stdout via the metadata filter.
 */
export function frameStatsArgs(input: string, duration: number | null): string[] {
  const long = duration === null || duration > 120;
  const samples = 24;
  const rate = duration && !long ? Math.max(0.2, Math.min(4, samples / duration)) : 1;
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    ...(long ? ['-skip_frame', 'nokey'] : []),
    ...safeInput(input),
    '-map',
    '0:v:0',
    '-vf',
    `${long ? '' : `fps=${rate.toFixed(3)},`}scale=160:-2,signalstats,metadata=mode=print:file=-`,
    ...(long ? ['-fps_mode', 'passthrough', '-frames:v', '300'] : []),
    '-f',
    'null',
    '-',
  ];
}

/** A contact sheet: columns x rows frames spread evenly over the media, tiled into one image. */
export function sheetArgs(
  step: StepOf<'thumbnail'>,
  input: string,
  output: string,
  duration: number,
  sheet: { columns: number; rows: number },
): string[] {
  const count = sheet.columns * sheet.rows;
  const tileWidth = Math.floor((step.width ?? 1280) / sheet.columns / 2) * 2;
  // One frame from the middle of each of `count` equal slices of the media.
  const interval = duration / count;
  return [
    ...ffmpegHead(),
    ...safeInput(input),
    '-map',
    '0:v:0',
    '-vf',
    [
      `select=isnan(prev_selected_t)*gte(t\\,${(interval / 2).toFixed(3)})+gte(t-prev_selected_t\\,${interval.toFixed(3)})`,
      `scale=${Math.max(16, tileWidth - 4)}:-2`,
      `tile=${sheet.columns}x${sheet.rows}:padding=4:margin=2`,
    ].join(','),
    '-fps_mode',
    'vfr',
    '-frames:v',
    '1',
    ...(step.format === 'webp' ? ['-c:v', 'libwebp', '-quality', '85'] : ['-q:v', '3']),
    '-update',
    '1',
    output,
  ];
}
