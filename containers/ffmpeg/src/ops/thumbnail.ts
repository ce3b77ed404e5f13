/** `thumbnail`: one frame as jpg or webp, at a time (default 10% in) and width. */
import path from 'node:path';
import type { Step } from '../../../../src/protocol/ops.ts';
import { thumbnailArgs, thumbnailTime } from '../ffmpeg-args.ts';
import { JobError } from '../job.ts';
import { runFfmpeg } from '../media.ts';
import type { OpHandler } from './op-context.ts';

export const thumbnail: OpHandler<Extract<Step, { op: 'thumbnail' }>> = async (ctx) => {
  const { info } = ctx.input;
  if (!info.hasVideo) throw new JobError('media.no_video', 'the input has no video frames');
  const time = thumbnailTime(ctx.step.time, info.duration);
  const name = `thumbnail.${ctx.step.format}`;
  const file = path.join(ctx.job.dir, `out-${name}`);
  ctx.progress('thumbnailing', 0, { message: `grabbing the frame at ${time.toFixed(1)} s` });
  await runFfmpeg(ctx.job, thumbnailArgs(ctx.step, ctx.input.path, file, time), null, ctx.timeLeftMs(), () => {});
  ctx.progress('thumbnailing', 1, { message: 'thumbnail ready' });
  await ctx.output(file, name, { time });
};
