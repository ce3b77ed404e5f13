/** `transcode`: an mp4 (H.264/AAC) or webm (VP9/Opus) copy, scaled to the asked height. */
import path from 'node:path';
import type { Step } from '../../../../src/protocol/ops.ts';
import { transcodeArgs, transcodeHeight } from '../ffmpeg-args.ts';
import { JobError } from '../job.ts';
import { runFfmpeg } from '../media.ts';
import type { OpHandler } from './op-context.ts';

export const transcode: OpHandler<Extract<Step, { op: 'transcode' }>> = async (ctx) => {
  const { info } = ctx.input;
  if (!info.hasVideo) throw new JobError('media.no_video', 'the input has no video stream');
  const name = `video.${ctx.step.format}`;
  const file = path.join(ctx.job.dir, `out-${name}`);
  const label = `encoding ${ctx.step.height ? `${ctx.step.height}p ` : ''}${ctx.step.format}`;
  ctx.progress('transcoding', 0, { message: label });
  const args = transcodeArgs(ctx.step, ctx.input.path, file, info.hasAudio, info.height);
  const stats = await runFfmpeg(ctx.job, args, info.duration, ctx.timeLeftMs(), (p) =>
    ctx.progress('transcoding', p.fraction, {
      message: label,
      ...(p.realtime !== undefined ? { realtime: p.realtime } : {}),
      ...(p.eta !== undefined ? { eta: p.eta } : {}),
    }),
  );
  const height = transcodeHeight(ctx.step, info.height);
  await ctx.output(file, name, undefined, {
    expect: {
      kind: 'media',
      video: true,
      audio: info.hasAudio,
      ...(height ? { height } : {}),
      seconds: info.duration,
    },
    produced: stats,
  });
};
