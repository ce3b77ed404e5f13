/**
 * ffprobe and ffmpeg runs for a job: sniff what a file really is (never trusting its name or
 * Content-Type), and run ffmpeg while turning its `-progress pipe:1` blocks into progress reports.
 *
 * Used by the op pipeline (pipeline.ts).
 */
import { open } from 'node:fs/promises';
import { ffprobeArgs } from './ffmpeg-args.ts';
import { type Job, JobError } from './job.ts';
import { classifyToolFailure, classifyToolWarnings, detailOf } from './tool-errors.ts';
import { runTool } from './tools.ts';

export interface ProbeStream {
  index: number;
  codec_type: string;
  codec_name?: string;
  width?: number;
  height?: number;
  duration?: string;
  disposition?: { attached_pic?: number };
}

export interface Probe {
  format: { format_name?: string; duration?: string; size?: string; bit_rate?: string };
  streams: ProbeStream[];
}

export interface MediaInfo {
  probe: Probe;
  duration: number | null;
  hasAudio: boolean;
  hasVideo: boolean;
  height: number | null;
  /** A still image (png, jpeg, webp, bmp), not a moving picture. */
  still: boolean;
}

const PROBE_TIMEOUT_MS = 60_000;

/** ffprobe the file; media.unsupported when it is not media ffprobe recognizes. */
export async function probeMedia(job: Job, file: string): Promise<MediaInfo> {
  const r = await runTool(job, 'ffprobe', ffprobeArgs(file), {
    cwd: job.dir,
    captureStdout: true,
    timeoutMs: PROBE_TIMEOUT_MS,
  });
  let probe: Probe | null = null;
  if (r.code === 0) {
    try {
      probe = JSON.parse(r.stdout) as Probe;
    } catch {
      probe = null;
    }
  }
  if (r.signal) throw toJobError(classifyToolFailure('ffprobe', r.stderr, r.signal));
  if (!probe?.streams?.length) {
    const said = classifyToolFailure('ffprobe', r.stderr, null);
    if (said.code === 'runner.crashed') throw toJobError(said);
    // "moov atom not found" is also what random bytes named .mp4 get: truncated only if it is an mp4.
    if (said.code === 'media.truncated' && isIsoMedia(await head(file))) throw toJobError(said);
    const why = detailOf(r.stderr).replace(/^the input:\s*/, '');
    throw new JobError('media.unsupported', `not a media file we can read${why ? ` (${why})` : ''}`);
  }
  // cover art in an audio file is a "video" stream too; it does not make the file a video
  const anyVideo = probe.streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  const duration = Number(probe.format.duration ?? anyVideo?.duration ?? Number.NaN);
  return {
    probe,
    duration: Number.isFinite(duration) && duration > 0 ? duration : null,
    hasAudio: probe.streams.some((s) => s.codec_type === 'audio'),
    hasVideo: anyVideo !== undefined,
    height: anyVideo?.height ?? null,
    still: /^(image2|\w+_pipe)$/.test(probe.format.format_name ?? ''),
  };
}

export interface EncodeProgress {
  /** 0-1 of the media processed */
  fraction: number;
  /** ffmpeg's speed factor: seconds of media per second of work (1.0 = realtime) */
  realtime?: number;
  /** seconds left, when known */
  eta?: number;
}

/** Parse one `-progress` block (key=value lines) into a progress figure. Pure. */
export function parseProgressBlock(block: Record<string, string>, duration: number | null): EncodeProgress | null {
  const us = Number(block.out_time_us ?? block.out_time_ms);
  if (!Number.isFinite(us) || us < 0 || !duration) return block.progress === 'end' ? { fraction: 1 } : null;
  const done = Math.min(1, us / 1e6 / duration);
  const speed = Number.parseFloat(block.speed ?? '');
  const out: EncodeProgress = { fraction: block.progress === 'end' ? 1 : done };
  if (Number.isFinite(speed) && speed > 0) {
    out.realtime = Math.round(speed * 100) / 100;
    out.eta = Math.max(0, Math.round((duration * (1 - done)) / speed));
  }
  return out;
}

/** The first bytes of a file (empty when unreadable). */
async function head(file: string): Promise<Uint8Array> {
  const buf = new Uint8Array(12);
  try {
    const fh = await open(file, 'r');
    try {
      await fh.read(buf, 0, buf.length, 0);
    } finally {
      await fh.close();
    }
  } catch {
    return new Uint8Array(0);
  }
  return buf;
}

/** An ISO base media file (mp4, m4a, mov, 3gp) starts with an `ftyp` box. Pure. */
export function isIsoMedia(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && String.fromCharCode(...bytes.subarray(4, 8)) === 'ftyp';
}

function toJobError(c: { code: JobError['code']; message: string; retryable: boolean }): JobError {
  return new JobError(c.code, c.message, c.retryable);
}

/** Classify a failed ffmpeg run by what it said (see tool-errors.ts). */
export function ffmpegError(stderr: string, signal: NodeJS.Signals | null): JobError {
  return toJobError(classifyToolFailure('ffmpeg', stderr, signal));
}

/** What an ffmpeg run said it wrote, from its last `-progress` block. */
export interface FfmpegStats {
  /** Video frames written. */
  frames: number;
  /** The furthest output timestamp, seconds. */
  seconds: number;
}

/**
 * Run ffmpeg with `args` (which must include `-progress pipe:1`), reporting progress per block.
 * Throws a JobError when ffmpeg fails, or when it exits 0 but said the input was cut short.
 */
export async function runFfmpeg(
  job: Job,
  args: string[],
  duration: number | null,
  timeoutMs: number,
  onProgress: (p: EncodeProgress) => void,
): Promise<FfmpegStats> {
  const stats: FfmpegStats = { frames: 0, seconds: 0 };
  let block: Record<string, string> = {};
  const r = await runTool(job, 'ffmpeg', args, {
    cwd: job.dir,
    timeoutMs,
    onLine: (line) => {
      const eq = line.indexOf('=');
      if (eq <= 0) return;
      const key = line.slice(0, eq).trim();
      block[key] = line.slice(eq + 1).trim();
      if (key === 'progress') {
        stats.frames = Math.max(stats.frames, Number(block.frame) || 0);
        stats.seconds = Math.max(stats.seconds, (Number(block.out_time_us) || 0) / 1e6);
        const p = parseProgressBlock(block, duration);
        if (p) onProgress(p);
        block = {};
      }
    },
  });
  if (r.code !== 0) throw ffmpegError(r.stderr, r.signal);
  const warned = classifyToolWarnings(r.stderr);
  if (warned) throw toJobError(warned);
  return stats;
}
