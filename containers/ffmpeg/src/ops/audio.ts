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
  await runFfmpeg(ctx.job, audioArgs(ctx.step, ctx.input.path, file), ctx.input.info.duration, ctx.timeLeftMs(), (p) =>
    ctx.progress('extracting', p.fraction, {
      message: `extracting ${ctx.step.format}`,
      ...(p.realtime !== undefined ? { realtime: p.realtime } : {}),
      ...(p.eta !== undefined ? { eta: p.eta } : {}),
    }),
  );
  await ctx.output(file, name);
};
