/**
 * `render`: slides plus the step's input as the audio track into an mp4. Each image shows for
 * `secondsPerImage` (default: the audio's length shared evenly), optionally fading through black;
 * subtitles (SRT or WebVTT, from a URL, an upload or an earlier output such as transcript.srt) are
 * burned in or muxed as a track.
 *
 * The slides and subtitles arrive as extra inputs (`image-0`..., `subtitles`): image bytes are sniffed
 * (png, jpeg, webp, gif, bmp) and the file renamed to match, and subtitles are parsed and rewritten by
 * the runner as subs.srt, so ffmpeg only ever reads files the runner named.
 */
import { open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseCues, toSrt } from '../../../../src/lib/transcript.ts';
import type { Step } from '../../../../src/protocol/ops.ts';
import { JobError } from '../job.ts';
import { runFfmpeg } from '../media.ts';
import { type RenderPlan, renderArgs, renderDuration, SUBTITLE_FILE } from '../render-args.ts';
import type { OpHandler } from './op-context.ts';

const MAX_SUBTITLE_BYTES = 2 * 1024 * 1024;

/** The image type from a file's first bytes; null when it is not an image we render. Pure. */
export function imageKind(head: Uint8Array): 'png' | 'jpg' | 'webp' | 'gif' | 'bmp' | null {
  const at = (i: number, ...bytes: number[]) => bytes.every((b, k) => head[i + k] === b);
  if (at(0, 0x89, 0x50, 0x4e, 0x47)) return 'png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpg';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'webp';
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return 'gif';
  if (at(0, 0x42, 0x4d)) return 'bmp';
  return null;
}

async function sniffImage(file: string, index: number, dir: string): Promise<string> {
  const fh = await open(file, 'r');
  const head = new Uint8Array(16);
  try {
    await fh.read(head, 0, 16, 0);
  } finally {
    await fh.close();
  }
  const kind = imageKind(head);
  if (!kind) throw new JobError('media.unsupported', `images[${index}] is not a png, jpeg, webp, gif or bmp image`);
  const named = path.join(dir, `slide-${String(index).padStart(3, '0')}.${kind}`);
  await rename(file, named);
  return named;
}

/** Parse the given subtitles and write them back as the runner's own subs.srt, cut to the video's length. */
async function prepareSubtitles(file: string, dir: string, total: number): Promise<number> {
  const { size } = await stat(file);
  if (size > MAX_SUBTITLE_BYTES) throw new JobError('media.unsupported', 'subtitles: larger than 2 MB');
  const cues = parseCues(await readFile(file, 'utf8')).map((c) => ({
    ...c,
    // markup is dropped: SRT html tags and ASS override blocks never reach libass
    text: c.text.replace(/<[^>]*>|\{[^}]*\}/g, '').trim(),
    end: Math.min(c.end, total),
  }));
  const usable = cues.filter((c) => c.text && c.end > c.start);
  if (usable.length === 0) throw new JobError('media.unsupported', 'subtitles: no SRT or WebVTT cues found');
  await writeFile(path.join(dir, SUBTITLE_FILE), toSrt(usable));
  return usable.length;
}

export const render: OpHandler<Extract<Step, { op: 'render' }>> = async (ctx) => {
  const { info } = ctx.input;
  if (!info.hasAudio) throw new JobError('media.no_audio', 'render: the step input (the audio track) has no audio');
  const count = ctx.step.images.length;
  const secondsPerImage = ctx.step.secondsPerImage ?? (info.duration ? info.duration / count : 0);
  if (!(secondsPerImage > 0)) throw new JobError('media.unsupported', 'render: the audio has no known duration');
  ctx.progress('rendering', 0, { message: `preparing ${count} image${count === 1 ? '' : 's'}` });
  const images: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = ctx.extras.get(`image-${i}`);
    if (!file) throw new JobError('input.missing', `images[${i}] did not reach the media runner`);
    images.push(await sniffImage(file, i, ctx.job.dir));
  }
  let subtitles: RenderPlan['subtitles'] = null;
  if (ctx.step.subtitles) {
    const file = ctx.extras.get('subtitles');
    if (!file) throw new JobError('input.missing', 'subtitles did not reach the media runner');
    const cues = await prepareSubtitles(file, ctx.job.dir, secondsPerImage * count);
    subtitles = ctx.step.subtitlesMode;
    ctx.job.log('info', `${cues} subtitle cues, ${subtitles === 'burn' ? 'burned in' : 'muxed as a track'}`);
  }
  const plan: RenderPlan = {
    images,
    audio: ctx.input.path,
    secondsPerImage,
    fade: ctx.step.fade,
    width: ctx.step.width,
    height: ctx.step.height,
    subtitles,
  };
  const name = 'render.mp4';
  const file = path.join(ctx.job.dir, `out-${name}`);
  const total = renderDuration(plan);
  const label = `rendering ${count} image${count === 1 ? '' : 's'}, ${total.toFixed(1)} s at ${plan.width}x${plan.height}`;
  const stats = await runFfmpeg(ctx.job, renderArgs(plan, file), total, ctx.timeLeftMs(), (p) =>
    ctx.progress('rendering', 0.05 + 0.95 * p.fraction, {
      message: label,
      ...(p.realtime !== undefined ? { realtime: p.realtime } : {}),
      ...(p.eta !== undefined ? { eta: p.eta } : {}),
    }),
  );
  await ctx.output(
    file,
    name,
    { duration: total, width: plan.width, height: plan.height, images: count },
    {
      expect: { kind: 'media', video: true, audio: true, width: plan.width, height: plan.height, seconds: total },
      produced: stats,
    },
  );
};
