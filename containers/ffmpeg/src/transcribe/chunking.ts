/**
 * Splitting audio for transcription: find silences with ffmpeg's silencedetect, then plan chunks of
 * about the target length whose cuts fall inside a silence when one is near (so no word is cut in
 * half), and cut each chunk as 16 kHz mono PCM.
 *
 * Used by the `transcribe` op; planChunks and parseSilenceStarts are pure and unit-tested.
 */
import path from 'node:path';
import { ffmpegHead, safeInput } from '../ffmpeg-args.ts';
import type { Job } from '../job.ts';
import { ffmpegError, runFfmpeg } from '../media.ts';
import { runTool } from '../tools.ts';

/** Quieter than this counts as silence. */
export const SILENCE_NOISE_DB = -35;
/** A silence must last this long to be a cut candidate (seconds). */
export const SILENCE_MIN_SECONDS = 0.4;

export interface Chunk {
  index: number;
  start: number;
  end: number;
}

/** `lavfi.silence_start=7.18` lines from the ametadata filter. Pure. */
export function parseSilenceStarts(lines: readonly string[]): number[] {
  const out: number[] = [];
  for (const line of lines) {
    const m = /^lavfi\.silence_start=(-?[\d.]+)/.exec(line.trim());
    if (m) out.push(Math.max(0, Number(m[1])));
  }
  return out.filter(Number.isFinite).sort((a, b) => a - b);
}

/**
 * Plan chunks of about `target` seconds over `duration`. Each cut moves to the middle of the first
 * `minSilence` of a silence (silencedetect reports a silence once it has lasted that long, so that
 * span is certainly quiet) when one lies between half and 1.25 times the target; otherwise the cut is
 * at the target. A tail shorter than a quarter of the target joins the chunk before it. Pure.
 */
export function planChunks(
  duration: number,
  silenceStarts: readonly number[],
  target: number,
  minSilence = SILENCE_MIN_SECONDS,
): Chunk[] {
  if (!(duration > 0)) return [];
  const quiet = silenceStarts.map((s) => s + minSilence / 2);
  const cuts: number[] = [];
  let pos = 0;
  while (duration - pos > target * 1.25) {
    const ideal = pos + target;
    const near = quiet.filter((q) => q >= pos + target * 0.5 && q <= pos + target * 1.25 && q < duration);
    let cut = near[0] ?? ideal;
    for (const q of near) if (Math.abs(q - ideal) < Math.abs(cut - ideal)) cut = q;
    cuts.push(cut);
    pos = cut;
  }
  const bounds = [0, ...cuts, duration];
  const chunks: Chunk[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    chunks.push({ index: i, start: round3(bounds[i]!), end: round3(bounds[i + 1]!) });
  }
  return chunks;
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** The input's first audio stream as 16 kHz mono PCM wav (what speech engines want). */
export async function extractSpeechAudio(
  job: Job,
  input: string,
  duration: number | null,
  timeoutMs: number,
  onFraction: (f: number) => void,
): Promise<string> {
  const out = path.join(job.dir, 'speech.wav');
  const args = [
    ...ffmpegHead(),
    ...safeInput(input),
    '-map',
    '0:a:0',
    '-vn',
    '-ac',
    '1',
    '-ar',
    '16000',
    '-c:a',
    'pcm_s16le',
    out,
  ];
  await runFfmpeg(job, args, duration, timeoutMs, (p) => onFraction(p.fraction));
  return out;
}

/** Silence starts in the speech audio. */
export async function detectSilences(job: Job, wav: string, timeoutMs: number): Promise<number[]> {
  const lines: string[] = [];
  const r = await runTool(
    job,
    'ffmpeg',
    [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'error',
      ...safeInput(wav),
      '-af',
      `silencedetect=noise=${SILENCE_NOISE_DB}dB:d=${SILENCE_MIN_SECONDS},ametadata=mode=print:key=lavfi.silence_start:file=-`,
      '-f',
      'null',
      '-',
    ],
    {
      cwd: job.dir,
      timeoutMs,
      onLine: (line) => {
        if (line.startsWith('lavfi.') && lines.length < 100_000) lines.push(line);
      },
    },
  );
  if (r.code !== 0) throw ffmpegError(r.stderr, r.signal);
  return parseSilenceStarts(lines);
}

/** Cut one chunk out of the speech audio (PCM, so the cut is sample-exact). */
export async function cutChunk(job: Job, wav: string, chunk: Chunk, timeoutMs: number): Promise<string> {
  const out = path.join(job.dir, `chunk-${String(chunk.index).padStart(4, '0')}.wav`);
  const args = [
    ...ffmpegHead(),
    '-ss',
    chunk.start.toFixed(3),
    '-t',
    (chunk.end - chunk.start).toFixed(3),
    ...safeInput(wav),
    '-c:a',
    'pcm_s16le',
    out,
  ];
  await runFfmpeg(job, args, null, timeoutMs, () => {});
  return out;
}
