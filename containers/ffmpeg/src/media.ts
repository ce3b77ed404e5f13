/**
 * ffprobe and ffmpeg runs for a job: sniff what a file really is (never trusting its name or
 * Content-Type), and run ffmpeg while turning its `-progress pipe:1` blocks into progress reports.
 *
 * Used by the op pipeline (pipeline.ts).
 */
import { ffprobeArgs } from './ffmpeg-args.ts';
import { type Job, JobError } from './job.ts';
import { lastLine, runTool } from './tools.ts';

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
  if (!probe?.streams?.length) {
    const why = lastLine(r.stderr).replace(/^.*?:\s*/, '');
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

/** Classify a failed ffmpeg run by what it said. */
export function ffmpegError(stderr: string, signal: NodeJS.Signals | null): JobError {
  if (signal) return new JobError('runner.crashed', `ffmpeg was killed (${signal})`, true);
  const tail = lastLine(stderr);
  if (/matches no streams|does not contain any stream|Output file #0 does not contain/i.test(stderr)) {
    return new JobError('media.unsupported', `the input has no usable stream for this op (${tail})`);
  }
  if (/No space left on device|Cannot allocate memory/i.test(stderr)) {
    return new JobError('runner.crashed', `the media runner ran out of resources (${tail})`, true);
  }
  return new JobError('media.corrupt', `ffmpeg could not process the input (${tail || 'no message'})`);
}

/**
 * Run ffmpeg with `args` (which must include `-progress pipe:1`), reporting progress per block.
 * Throws a JobError when ffmpeg fails.
 */
export async function runFfmpeg(
  job: Job,
  args: string[],
  duration: number | null,
  timeoutMs: number,
  onProgress: (p: EncodeProgress) => void,
): Promise<void> {
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
        const p = parseProgressBlock(block, duration);
        if (p) onProgress(p);
        block = {};
      }
    },
  });
  if (r.code !== 0) throw ffmpegError(r.stderr, r.signal);
}
