/**
 * `download`: keep the input itself as download.<ext>, the extension taken from what ffprobe found
 * (not from the URL or the server's Content-Type).
 */
import { link } from 'node:fs/promises';
import path from 'node:path';
import type { OpHandler } from './op-context.ts';

const EXT_BY_FORMAT: [RegExp, string][] = [
  [/^mov,mp4/, 'mp4'],
  [/^matroska,webm/, 'mkv'],
  [/^mp3$/, 'mp3'],
  [/^ogg$/, 'ogg'],
  [/^wav$/, 'wav'],
  [/^flac$/, 'flac'],
  [/^aac$/, 'aac'],
  [/^avi$/, 'avi'],
  [/^flv$/, 'flv'],
  [/^mpegts$/, 'ts'],
  [/^asf$/, 'wmv'],
];

/** The file extension for a probed format; webm when a Matroska file holds only VP8/VP9/AV1 + Opus/Vorbis. */
export function extensionFor(formatName: string, codecs: string[], fallback: string): string {
  const hit = EXT_BY_FORMAT.find(([re]) => re.test(formatName));
  if (!hit) return /^[a-z0-9]{1,5}$/.test(fallback) && fallback !== 'bin' ? fallback : 'bin';
  if (hit[1] === 'mkv' && codecs.every((c) => ['vp8', 'vp9', 'av1', 'opus', 'vorbis'].includes(c))) return 'webm';
  if (hit[1] === 'mp4' && codecs.length > 0 && !codecs.some((c) => c !== 'aac' && c !== 'alac')) return 'm4a';
  return hit[1];
}

export const download: OpHandler = async (ctx) => {
  const { probe } = ctx.input.info;
  const codecs = probe.streams.map((s) => s.codec_name ?? '');
  const ext = extensionFor(probe.format.format_name ?? '', codecs, ctx.input.ext);
  const name = `download.${ext}`;
  const file = path.join(ctx.job.dir, `out-${name}`);
  await link(ctx.input.path, file);
  const { info } = ctx.input;
  // The file as it came; it still has to play: a still image decodes, media decodes at both ends.
  await ctx.output(file, name, undefined, {
    expect: { kind: info.still ? 'image' : 'media', audio: false, video: false },
  });
  ctx.progress('finishing', 1, { message: 'file kept' });
};
