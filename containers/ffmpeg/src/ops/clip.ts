/**
 * `clip`: the part between `start` and `end` (seconds). Streams are copied by default (fast, the cut
 * lands on a keyframe); `reencode: true` gives a frame-accurate H.264/AAC mp4 (m4a for audio only).
 * The copy keeps the input's container, named from what ffprobe found. Inputs a copy cannot cut
 * (gif, asf/wmv, image sequences: no container to keep or no keyframe seeking) are re-encoded, and so is
 * a copy whose header would not match its packets (the output check says so).
 */
import path from 'node:path';
import type { Step } from '../../../../src/protocol/ops.ts';
import { clipArgs } from '../ffmpeg-args.ts';
import { JobError } from '../job.ts';
import { runFfmpeg } from '../media.ts';
import { toleranceFor } from '../output-check.ts';
import { extensionFor } from './download.ts';
import type { OpHandler } from './op-context.ts';

/** Containers a stream copy may be written to; anything else is copied into Matroska. */
const COPY_EXTS = new Set(['mp4', 'm4a', 'mkv', 'webm', 'mp3', 'ogg', 'wav', 'flac', 'aac', 'ts', 'flv', 'avi']);

/** A stream copy may start at the keyframe before `start`: this much longer than asked is still right. */
const KEYFRAME_GAP_S = 10;

/** The container a stream copy of this input is written to; null when the input cannot be cut by copy. */
export function copyExtension(formatName: string, codecs: string[], inputExt: string): string | null {
  const found = extensionFor(formatName, codecs, inputExt);
  return COPY_EXTS.has(found) ? found : null;
}

export const clip: OpHandler<Extract<Step, { op: 'clip' }>> = async (ctx) => {
  const { info } = ctx.input;
  if (!info.hasVideo && !info.hasAudio) throw new JobError('media.unsupported', 'the input has no audio or video');
  const duration = info.duration;
  if (duration !== null && ctx.step.start >= duration) {
    throw new JobError(
      'step.invalid',
      `clip start ${ctx.step.start} s is past the end of the media (${duration.toFixed(2)} s)`,
    );
  }
  const end = Math.min(ctx.step.end ?? Number.POSITIVE_INFINITY, duration ?? Number.POSITIVE_INFINITY);
  if (!Number.isFinite(end)) throw new JobError('step.invalid', 'the media has no known duration: give an end');
  const codecs = info.probe.streams.map((s) => s.codec_name ?? '');
  // Formats without keyframe seeking or a container a copy can keep (gif, asf, image sequences) re-encode.
  const copyExt = ctx.step.reencode ? null : copyExtension(info.probe.format.format_name ?? '', codecs, ctx.input.ext);
  if (info.still) throw new JobError('media.unsupported', 'a still image has no length to clip');
  try {
    if (copyExt === null) return await cut(ctx, end, null);
    try {
      await cut(ctx, end, copyExt);
    } catch (err) {
      // A copy whose header would lie about its length (audio-only containers keep the input's sample
      // count): re-encode instead, which writes a true header.
      if (!(err instanceof JobError) || err.code !== 'media.output_invalid') throw err;
      ctx.job.log('info', `the stream copy came out wrong (${err.message}); re-encoding instead`);
      await cut(ctx, end, null);
    }
  } catch (err) {
    if (!(err instanceof JobError) || err.code !== 'media.no_frames') throw err;
    const of = duration === null ? '' : ` (the media is ${duration.toFixed(2)} s long)`;
    throw new JobError('media.no_frames', `there is no decodable media between ${ctx.step.start} and ${end} s${of}`);
  }
};

/** One cut: a stream copy into `copyExt`, or (null) a re-encode to H.264/AAC mp4 (m4a without video). */
async function cut(ctx: Parameters<typeof clip>[0], end: number, copyExt: string | null): Promise<void> {
  const { info } = ctx.input;
  const reencode = copyExt === null;
  const ext = copyExt ?? (info.hasVideo ? 'mp4' : 'm4a');
  const name = `clip.${ext}`;
  const file = path.join(ctx.job.dir, `out-${name}`);
  const length = end - ctx.step.start;
  const label = `${reencode ? 're-encoding' : 'copying'} ${ctx.step.start.toFixed(1)}-${end.toFixed(1)} s`;
  ctx.progress('clipping', 0, { message: label });
  const stats = await runFfmpeg(
    ctx.job,
    clipArgs({ ...ctx.step, reencode }, ctx.input.path, file, { hasVideo: info.hasVideo, end }),
    length,
    ctx.timeLeftMs(),
    (p) =>
      ctx.progress('clipping', p.fraction, {
        message: label,
        ...(p.realtime !== undefined ? { realtime: p.realtime } : {}),
        ...(p.eta !== undefined ? { eta: p.eta } : {}),
      }),
  );
  const tolerance = toleranceFor(length);
  await ctx.output(
    file,
    name,
    { start: ctx.step.start, end, copied: !reencode },
    {
      expect: {
        kind: 'media',
        video: info.hasVideo,
        audio: info.hasAudio,
        seconds: length,
        tolerance: { under: tolerance, over: tolerance + (reencode ? 0 : KEYFRAME_GAP_S) },
      },
      produced: stats,
      copied: !reencode,
    },
  );
}
