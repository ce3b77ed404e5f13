/**
 * `thumbnail`: one frame as jpg or webp, at a time (default 10% in) or `"auto"` (a representative
 * frame: bright and varied, never a black or blank one), at a width; optionally also a contact sheet
 * of frames spread over the media (sheet.<format>).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Step } from '../../../../src/protocol/ops.ts';
import { sheetArgs, thumbnailArgs, thumbnailTime } from '../ffmpeg-args.ts';
import { JobError } from '../job.ts';
import { runFfmpeg } from '../media.ts';
import { pickFrame } from './frame-pick.ts';
import type { OpHandler } from './op-context.ts';

export const thumbnail: OpHandler<Extract<Step, { op: 'thumbnail' }>> = async (ctx) => {
  const { info } = ctx.input;
  if (!info.hasVideo) throw new JobError('media.no_video', 'the input has no video frames');
  const share = ctx.step.sheet ? 0.5 : 1;
  let time: number;
  if (ctx.step.time === 'auto') {
    ctx.progress('analyzing', 0, { message: 'looking for a representative frame' });
    time = thumbnailTime(await pickFrame(ctx), info.duration);
  } else time = thumbnailTime(ctx.step.time, info.duration);
  const name = `thumbnail.${ctx.step.format}`;
  const file = path.join(ctx.job.dir, `out-${name}`);
  ctx.progress('thumbnailing', 0.1 * share, { message: `grabbing the frame at ${time.toFixed(1)} s` });
  await runFfmpeg(ctx.job, thumbnailArgs(ctx.step, ctx.input.path, file, time), null, ctx.timeLeftMs(), () => {});
  if (time > 0 && !(await madeSomething(file))) {
    // No frame at or after `time` (one-frame media, a duration that overstates the frames): the first one.
    ctx.job.log('info', `no frame at ${time.toFixed(1)} s; taking the first frame`);
    time = 0;
    await runFfmpeg(ctx.job, thumbnailArgs(ctx.step, ctx.input.path, file, 0), null, ctx.timeLeftMs(), () => {});
  }
  const image = { expect: { kind: 'image', video: true, audio: false } } as const;
  await ctx.output(
    file,
    name,
    { time, ...(ctx.step.time === 'auto' ? { auto: true } : {}) },
    { expect: { ...image.expect, ...(ctx.step.width ? { width: ctx.step.width } : {}) } },
  );
  ctx.progress('thumbnailing', share, { message: 'thumbnail ready' });
  if (!ctx.step.sheet) return;
  if (!info.duration) throw new JobError('media.unsupported', 'a contact sheet needs media with a known duration');
  const sheetName = `sheet.${ctx.step.format}`;
  const sheetFile = path.join(ctx.job.dir, `out-${sheetName}`);
  const { columns, rows } = ctx.step.sheet;
  ctx.progress('thumbnailing', share, { message: `making a ${columns}x${rows} contact sheet` });
  await runFfmpeg(
    ctx.job,
    sheetArgs(ctx.step, ctx.input.path, sheetFile, info.duration, ctx.step.sheet),
    info.duration,
    ctx.timeLeftMs(),
    (p) => ctx.progress('thumbnailing', share + (1 - share) * p.fraction, { message: 'contact sheet' }),
  );
  await ctx.output(sheetFile, sheetName, { columns, rows }, image);
};

async function madeSomething(file: string): Promise<boolean> {
  return stat(file).then(
    (s) => s.size > 0,
    () => false,
  );
}
