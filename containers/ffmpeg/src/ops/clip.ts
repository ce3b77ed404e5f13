/**
 * `clip`: the part between `start` and `end` (seconds). Streams are copied by default (fast, the cut
 * lands on a keyframe); `reencode: true` gives a frame-accurate H.264/AAC mp4 (m4a for audio only).
 * The copy keeps the input's container, named from what ffprobe found.
 */
import path from 'node:path';
import type { Step } from '../../../../src/protocol/ops.ts';
import { clipArgs } from '../ffmpeg-args.ts';
import { JobError } from '../job.ts';
import { runFfmpeg } from '../media.ts';
import { extensionFor } from './download.ts';
import type { OpHandler } from './op-context.ts';

/** Containers a stream copy may be written to; anything else is copied into Matroska. */
const COPY_EXTS = new Set(['mp4', 'm4a', 'mkv', 'webm', 'mp3', 'ogg', 'wav', 'flac', 'aac', 'ts', 'flv', 'avi']);

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
  let ext: string;
  if (ctx.step.reencode) ext = info.hasVideo ? 'mp4' : 'm4a';
  else {
    const codecs = info.probe.streams.map((s) => s.codec_name ?? '');
    const found = extensionFor(info.probe.format.format_name ?? '', codecs, ctx.input.ext);
    ext = COPY_EXTS.has(found) ? found : 'mkv';
  }
  const name = `clip.${ext}`;
  const file = path.join(ctx.job.dir, `out-${name}`);
  const length = end - ctx.step.start;
  const label = `${ctx.step.reencode ? 're-encoding' : 'copying'} ${ctx.step.start.toFixed(1)}-${end.toFixed(1)} s`;
  ctx.progress('clipping', 0, { message: label });
  await runFfmpeg(
    ctx.job,
    clipArgs(ctx.step, ctx.input.path, file, { hasVideo: info.hasVideo, end }),
    length,
    ctx.timeLeftMs(),
    (p) =>
      ctx.progress('clipping', p.fraction, {
        message: label,
        ...(p.realtime !== undefined ? { realtime: p.realtime } : {}),
        ...(p.eta !== undefined ? { eta: p.eta } : {}),
      }),
  );
  await ctx.output(file, name, { start: ctx.step.start, end, copied: !ctx.step.reencode });
};
