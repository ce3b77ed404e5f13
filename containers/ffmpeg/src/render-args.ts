/**
 * ffmpeg arguments for `render`: slides (one looped image each) plus an audio track into an H.264/AAC
 * mp4, with optional fades through black and subtitles burned in or muxed as a mov_text track.
 *
 * Pure. Every image goes in through safeInput (forced to the image2 demuxer, which picks the decoder
 * from the extension the runner gave the file after sniffing its bytes). The only subtitle file ever
 * read is `subs.srt`, which the runner writes itself from parsed cues inside the job directory, so
 * neither the subtitles filter nor the srt demuxer can be pointed at another file.
 */
import { ffmpegHead, safeInput } from './ffmpeg-args.ts';

export const RENDER_FPS = 25;
/** The one subtitle file name the render ever reads, relative to the job directory (ffmpeg's cwd). */
export const SUBTITLE_FILE = 'subs.srt';

export interface RenderPlan {
  images: readonly string[];
  audio: string;
  secondsPerImage: number;
  fade: number;
  width: number;
  height: number;
  subtitles: 'burn' | 'mux' | null;
}

export function renderDuration(plan: Pick<RenderPlan, 'images' | 'secondsPerImage'>): number {
  return plan.images.length * plan.secondsPerImage;
}

export function renderArgs(plan: RenderPlan, output: string): string[] {
  const { width: w, height: h } = plan;
  const spi = plan.secondsPerImage.toFixed(3);
  const inputs: string[] = [];
  for (const img of plan.images)
    inputs.push('-f', 'image2', '-loop', '1', '-framerate', String(RENDER_FPS), '-t', spi, ...safeInput(img));
  const audioIndex = plan.images.length;
  inputs.push(...safeInput(plan.audio));
  if (plan.subtitles === 'mux') {
    inputs.push('-protocol_whitelist', 'file', '-format_whitelist', 'srt', '-f', 'srt', '-i', SUBTITLE_FILE);
  }
  const fade = Math.min(plan.fade, plan.secondsPerImage / 2.5);
  const chains = plan.images.map((_, i) => {
    const parts = [
      `scale=${w}:${h}:force_original_aspect_ratio=decrease`,
      `pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2:color=black`,
      'setsar=1',
      `fps=${RENDER_FPS}`,
      'format=yuv420p',
    ];
    if (fade > 0) {
      parts.push(
        `fade=t=in:st=0:d=${fade.toFixed(3)}`,
        `fade=t=out:st=${(plan.secondsPerImage - fade).toFixed(3)}:d=${fade.toFixed(3)}`,
      );
    }
    return `[${i}:v]${parts.join(',')}[v${i}]`;
  });
  const labels = plan.images.map((_, i) => `[v${i}]`).join('');
  chains.push(`${labels}concat=n=${plan.images.length}:v=1:a=0[vc]`);
  chains.push(plan.subtitles === 'burn' ? `[vc]subtitles=filename=${SUBTITLE_FILE}[v]` : '[vc]null[v]');
  chains.push(`[${audioIndex}:a:0]apad[a]`);
  return [
    ...ffmpegHead(),
    ...inputs,
    '-filter_complex',
    chains.join(';'),
    '-map',
    '[v]',
    '-map',
    '[a]',
    ...(plan.subtitles === 'mux' ? ['-map', `${audioIndex + 1}:s:0`, '-c:s', 'mov_text'] : []),
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-crf',
    '23',
    '-r',
    String(RENDER_FPS),
    '-c:a',
    'aac',
    '-b:a',
    '160k',
    '-t',
    renderDuration(plan).toFixed(3),
    '-movflags',
    '+faststart',
    output,
  ];
}
