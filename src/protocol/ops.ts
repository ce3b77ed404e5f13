/**
 * The media operations a task step may name, each with its own zod schema.
 *
 * Shared by the Worker (validating POST /api/tasks), the task object (planning steps) and the runner
 * (validating POST /jobs). Schemas are strict: an unknown option is an error that names it.
 */
import { z } from 'zod';

export const AUDIO_FORMATS = ['mp3', 'm4a', 'opus', 'wav', 'flac'] as const;
export const VIDEO_FORMATS = ['mp4', 'webm'] as const;
export const VIDEO_HEIGHTS = [360, 480, 720, 1080] as const;
export const IMAGE_FORMATS = ['jpg', 'webp'] as const;

const bitrate = z
  .string()
  .regex(/^\d{2,3}k$/, 'bitrate looks like "192k"')
  .refine((b) => Number.parseInt(b, 10) >= 32 && Number.parseInt(b, 10) <= 320, 'bitrate between 32k and 320k');

export const probeStep = z.strictObject({ op: z.literal('probe') });

export const downloadStep = z.strictObject({
  op: z.literal('download'),
  /** yt-dlp format selector for sites; ignored for direct files. */
  format: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[\w+/[\]<>=:.,*-]+$/, 'format selector has odd characters')
    .optional(),
});

export const audioStep = z.strictObject({
  op: z.literal('audio'),
  format: z.enum(AUDIO_FORMATS).default('mp3'),
  bitrate: bitrate.optional(),
});

export const transcodeStep = z.strictObject({
  op: z.literal('transcode'),
  format: z.enum(VIDEO_FORMATS).default('mp4'),
  height: z.literal(VIDEO_HEIGHTS, { error: 'height is one of 360, 480, 720, 1080' }).optional(),
  quality: z.enum(['low', 'medium', 'high']).default('medium'),
});

export const thumbnailStep = z.strictObject({
  op: z.literal('thumbnail'),
  /** Seconds into the media; default: 10% of the duration (at most 10 s). */
  time: z.number().min(0).max(86_400).optional(),
  width: z.number().int().min(16).max(3840).optional(),
  format: z.enum(IMAGE_FORMATS).default('jpg'),
});

export const stepSchema = z.discriminatedUnion('op', [
  probeStep,
  downloadStep,
  audioStep,
  transcodeStep,
  thumbnailStep,
]);

export type Step = z.infer<typeof stepSchema>;
export type Op = Step['op'];
export const OPS = ['probe', 'download', 'audio', 'transcode', 'thumbnail'] as const satisfies readonly Op[];

export function isOp(value: unknown): value is Op {
  return typeof value === 'string' && (OPS as readonly string[]).includes(value);
}

/** Relative cost of each op, used to weight overall progress across steps. */
export const OP_WEIGHT: Record<Op, number> = {
  probe: 0.2,
  download: 1,
  audio: 1,
  transcode: 3,
  thumbnail: 0.3,
};

/** Content type of each output file extension the runner produces. */
export const CONTENT_TYPES: Record<string, string> = {
  mp3: 'audio/mpeg',
  m4a: 'audio/mp4',
  opus: 'audio/ogg',
  wav: 'audio/wav',
  flac: 'audio/flac',
  mp4: 'video/mp4',
  webm: 'video/webm',
  mkv: 'video/x-matroska',
  mov: 'video/quicktime',
  jpg: 'image/jpeg',
  webp: 'image/webp',
  png: 'image/png',
  json: 'application/json',
  txt: 'text/plain; charset=utf-8',
};

export function contentTypeFor(name: string): string {
  const ext = name.split('.').pop()?.toLowerCase() ?? '';
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}
