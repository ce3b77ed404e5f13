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
export const TRANSCRIPT_FORMATS = ['txt', 'srt', 'vtt', 'json'] as const;
export const MAX_RENDER_IMAGES = 100;

/**
 * Every step may name an earlier output of the same task as its input (`"input": "audio.mp3"`)
 * instead of reading the previous step's output.
 */
const common = {
  input: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\w.-]+$/, 'input names an earlier output, like "audio.mp3"')
    .optional(),
};

const bitrate = z
  .string()
  .regex(/^\d{2,3}k$/, 'bitrate looks like "192k"')
  .refine((b) => Number.parseInt(b, 10) >= 32 && Number.parseInt(b, 10) <= 320, 'bitrate between 32k and 320k');

export const probeStep = z.strictObject({ op: z.literal('probe'), ...common });

export const downloadStep = z.strictObject({
  op: z.literal('download'),
  ...common,
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
  ...common,
  format: z.enum(AUDIO_FORMATS).default('mp3'),
  bitrate: bitrate.optional(),
});

export const transcodeStep = z.strictObject({
  op: z.literal('transcode'),
  ...common,
  format: z.enum(VIDEO_FORMATS).default('mp4'),
  height: z.literal(VIDEO_HEIGHTS, { error: 'height is one of 360, 480, 720, 1080' }).optional(),
  quality: z.enum(['low', 'medium', 'high']).default('medium'),
});

export const thumbnailStep = z.strictObject({
  op: z.literal('thumbnail'),
  ...common,
  /**
   * Seconds into the media, or "auto": a representative frame (not a black or blank one).
   * Default: 10% of the duration (at most 10 s).
   */
  time: z.union([z.number().min(0).max(86_400), z.literal('auto')], { error: 'time is seconds or "auto"' }).optional(),
  width: z.number().int().min(16).max(3840).optional(),
  format: z.enum(IMAGE_FORMATS).default('jpg'),
  /** Also a contact sheet: columns x rows frames evenly spread over the media, as sheet.<format>. */
  sheet: z
    .strictObject({
      columns: z.number().int().min(1).max(10).default(4),
      rows: z.number().int().min(1).max(10).default(4),
    })
    .optional(),
});

export const transcribeStep = z.strictObject({
  op: z.literal('transcribe'),
  ...common,
  /** Target chunk length; cuts move to the nearest silence when there is one. */
  chunkSeconds: z.number().int().min(5).max(600).default(30),
  /**
   * Chunks transcribed at once; default: the runner's engine decides (one per core for the offline
   * engine, which is CPU-bound; a few requests in flight for Workers AI).
   */
  parallel: z.number().int().min(1).max(8).optional(),
  /** The speech's language as an ISO 639-1 code (`en`, `fr`); default: detected by the engine. */
  language: z
    .string()
    .regex(/^[a-zA-Z]{2}$/, 'a two-letter ISO 639-1 code such as en')
    .transform((l) => l.toLowerCase())
    .optional(),
  /** Which transcript files to produce (all four by default). */
  formats: z.array(z.enum(TRANSCRIPT_FORMATS)).min(1).max(4).optional(),
});

export const clipStep = z
  .strictObject({
    op: z.literal('clip'),
    ...common,
    /** Seconds. */
    start: z.number().min(0).max(86_400).default(0),
    /** Seconds; default: the end of the media. */
    end: z.number().min(0).max(86_400).optional(),
    /** Re-encode (H.264/AAC, frame-accurate) instead of copying the streams (fast, cuts at keyframes). */
    reencode: z.boolean().default(false),
  })
  .refine((s) => s.end === undefined || s.end > s.start, { message: 'end must be after start', path: ['end'] });

const urlString = z
  .string()
  .min(1)
  .max(4096)
  .refine((u) => /^https?:\/\//i.test(u), 'an http(s) URL');
/** A file a render needs besides its audio: a URL, or an upload id from POST /api/uploads. */
export const renderSource = z.union(
  [z.strictObject({ url: urlString }), z.strictObject({ upload: z.string().min(1).max(200) })],
  {
    error: 'expected {"url": ...} or {"upload": id}',
  },
);
export const subtitleSource = z.union(
  [
    z.strictObject({ url: urlString }),
    z.strictObject({ upload: z.string().min(1).max(200) }),
    z.strictObject({ output: z.string().min(1).max(200) }),
  ],
  { error: 'expected {"url": ...}, {"upload": id} or {"output": name} (an earlier output, like "transcript.srt")' },
);

export const renderStep = z.strictObject({
  op: z.literal('render'),
  ...common,
  /** The slides, in order. The step's input is the audio track. */
  images: z.array(renderSource).min(1).max(MAX_RENDER_IMAGES),
  /** Seconds per image; default: the audio's duration shared evenly. */
  secondsPerImage: z.number().min(0.5).max(3_600).optional(),
  /** Fade through black between images, in seconds (0 = cut). */
  fade: z.number().min(0).max(5).default(0),
  width: z.number().int().min(16).max(3840).multipleOf(2).default(1280),
  height: z.number().int().min(16).max(2160).multipleOf(2).default(720),
  /** SRT or WebVTT subtitles: burned into the picture or muxed as a selectable track. */
  subtitles: subtitleSource.optional(),
  subtitlesMode: z.enum(['burn', 'mux']).default('burn'),
});

export const HLS_RENDITIONS = [1080, 720, 480, 360] as const;

export const hlsStep = z.strictObject({
  op: z.literal('hls'),
  ...common,
  /** Heights to encode; any above the source is left out. Default: every one up to the source height. */
  renditions: z
    .array(z.literal(HLS_RENDITIONS, { error: 'each rendition is one of 1080, 720, 480, 360' }))
    .min(1)
    .max(HLS_RENDITIONS.length)
    .refine((r) => new Set(r).size === r.length, 'each rendition at most once')
    .optional(),
  /** Target segment length in seconds (keyframes are forced on this grid in every rendition). */
  segmentSeconds: z.number().int().min(2).max(10).default(6),
  codec: z.literal('h264').default('h264'),
  /** Encoder effort: low = x264 ultrafast, medium = veryfast, high = medium. */
  quality: z.enum(['low', 'medium', 'high']).default('medium'),
});

export const stepSchema = z.discriminatedUnion('op', [
  probeStep,
  downloadStep,
  audioStep,
  transcodeStep,
  thumbnailStep,
  transcribeStep,
  clipStep,
  renderStep,
  hlsStep,
]);

export type Step = z.infer<typeof stepSchema>;
export type Op = Step['op'];
export const OPS = [
  'probe',
  'download',
  'audio',
  'transcode',
  'thumbnail',
  'transcribe',
  'clip',
  'render',
  'hls',
] as const satisfies readonly Op[];

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
  transcribe: 3,
  clip: 1,
  render: 3,
  hls: 4,
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
  srt: 'application/x-subrip; charset=utf-8',
  vtt: 'text/vtt; charset=utf-8',
  m3u8: 'application/vnd.apple.mpegurl',
};

export function contentTypeFor(name: string): string {
  const ext = name.split('.').pop()?.toLowerCase() ?? '';
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}
