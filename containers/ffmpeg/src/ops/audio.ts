/** `audio`: the first audio stream as mp3, m4a, opus, wav or flac. */
import path from 'node:path';
import type { Step } from '../../../../src/protocol/ops.ts';
import { audioArgs } from '../ffmpeg-args.ts';
import { JobError } from '../job.ts';
import { runFfmpeg } from '../media.ts';
import type { OpHandler } from './op-context.ts';

export const audio: OpHandler<Extract<Step, { op: 'audio' }>> = async (ctx) => {
  if (!ctx.input.info.hasAudio) throw new JobError('media.no_audio', 'the input has no audio stream');
  const name = `audio.${ctx.step.format}`;
  const file = path.join(ctx.job.dir, `out-${name}`);
  ctx.progress('extracting', 0, { message: `extracting ${ctx.step.format}` });
  const stats = await runFfmpeg(
    ctx.job,
    audioArgs(ctx.step, ctx.input.path, file),
    ctx.input.info.duration,
    ctx.timeLeftMs(),
    (p) =>
      ctx.progress('extracting', p.fraction, {
        message: `extracting ${ctx.step.format}`,
        ...(p.realtime !== undefined ? { realtime: p.realtime } : {}),
        ...(p.eta !== undefined ? { eta: p.eta } : {}),
      }),
  );
  // The result should last as long as the input's audio stream says it does (when it says).
  const stream = Number(ctx.input.info.probe.streams.find((s) => s.codec_type === 'audio')?.duration);
  await ctx.output(file, name, undefined, {
    expect: {
      kind: 'media',
      audio: true,
      video: false,
      seconds: Number.isFinite(stream) && stream > 0 ? stream : null,
    },
    produced: stats,
  });
};
