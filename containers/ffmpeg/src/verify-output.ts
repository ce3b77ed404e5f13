/**
 * Gathering the facts for the output check (output-check.ts decides): one ffprobe of the finished file
 * before it is announced, and two short decodes, its first half second and its last second, started
 * with it and still running while the task object copies the file to R2 (the job's `done` waits).
 *
 * Cost: one ffprobe on the job's critical path; the two decodes run in parallel and overlap the upload
 * (figures in the README's "Output checks" section).
 */
import { stat } from 'node:fs/promises';
import { ffprobeArgs, safeInput } from './ffmpeg-args.ts';
import { type Job, JobError } from './job.ts';
import type { FfmpegStats, Probe } from './media.ts';
import { checkDecode, checkStructure, type DecodeFacts, type OutputExpectation } from './output-check.ts';
import { runTool } from './tools.ts';

const CHECK_TIMEOUT_MS = 60_000;
/** How much of the start is decoded, and how far from the end the tail decode starts. */
const HEAD_SECONDS = 0.5;
const TAIL_SECONDS = 1;

async function probeOutput(job: Job, file: string): Promise<{ probe: Probe | null; stderr: string }> {
  const r = await runTool(job, 'ffprobe', ffprobeArgs(file), {
    cwd: job.dir,
    captureStdout: true,
    timeoutMs: CHECK_TIMEOUT_MS,
  });
  if (r.code !== 0) return { probe: null, stderr: r.stderr };
  try {
    const probe = JSON.parse(r.stdout) as Probe;
    return { probe: Array.isArray(probe.streams) ? probe : null, stderr: r.stderr };
  } catch {
    return { probe: null, stderr: r.stderr };
  }
}

/** Decode part of a file to nothing, counting frames and the furthest time from ffmpeg's `-progress`. */
export async function decodePart(job: Job, file: string, part: 'head' | 'tail' | 'image'): Promise<DecodeFacts> {
  const seek = part === 'tail' ? ['-sseof', `-${TAIL_SECONDS}`] : [];
  const limit = part === 'head' ? ['-t', String(HEAD_SECONDS)] : part === 'image' ? ['-frames:v', '1'] : [];
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-nostats',
    '-progress',
    'pipe:1',
    ...seek,
    ...safeInput(file),
    '-map',
    '0:v:0?',
    '-map',
    '0:a:0?',
    ...limit,
    '-f',
    'null',
    '-',
  ];
  let frames = 0;
  let seconds = 0;
  const r = await runTool(job, 'ffmpeg', args, {
    cwd: job.dir,
    timeoutMs: CHECK_TIMEOUT_MS,
    onLine: (line) => {
      const [key, value] = line.split('=');
      if (key === 'frame') frames = Math.max(frames, Number(value) || 0);
      if (key === 'out_time_us') seconds = Math.max(seconds, (Number(value) || 0) / 1e6);
    },
  });
  return { exitOk: r.code === 0, frames, seconds, stderr: r.stderr };
}

export interface OutputCheck {
  expect: OutputExpectation;
  /** What the producing ffmpeg run reported writing (frames, `out_time`). */
  produced?: FfmpegStats;
  /** A stream copy: its header must agree with the produced time. */
  copied?: boolean;
}

/**
 * Check a finished output's structure; throws the check's JobError. Returns its size and the decode
 * half of the check, already started (await it before the job may succeed).
 */
export async function verifyOutput(
  job: Job,
  file: string,
  check: OutputCheck,
): Promise<{ size: number; decoded: Promise<void> }> {
  const size = await stat(file).then(
    (s) => s.size,
    () => 0,
  );
  const image = check.expect.kind === 'image';
  // The decodes start with the probe (the wall time is the longer of them, not their sum); only the
  // probe holds the announcement back.
  const decodes =
    size > 0
      ? Promise.all([
          decodePart(job, file, image ? 'image' : 'head'),
          image ? Promise.resolve(null) : decodePart(job, file, 'tail'),
        ])
      : null;
  decodes?.catch(() => {});
  const { probe, stderr } = size > 0 ? await probeOutput(job, file) : { probe: null, stderr: '' };
  const structure = checkStructure(
    {
      size,
      probe,
      probeStderr: stderr,
      ...(check.produced ? { produced: check.produced } : {}),
      ...(check.copied ? { copied: true } : {}),
    },
    check.expect,
  );
  // (an empty file never passes the structure check, so past it the decodes exist)
  if (!structure.ok || !decodes) {
    const failed = structure.ok ? { code: 'media.no_frames' as const, message: 'the result is empty' } : structure;
    throw new JobError(failed.code, failed.message);
  }
  const decoded = decodes.then(([head, tail]) => {
    const verdict = checkDecode(head, tail, check.expect);
    if (!verdict.ok) throw new JobError(verdict.code, verdict.message, verdict.retryable);
  });
  // The caller awaits it later; until then a failure must not count as unhandled.
  decoded.catch(() => {});
  return { size, decoded };
}
