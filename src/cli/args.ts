/**
 * The CLI's command line: `clipyard <url|file> --audio mp3 | --video 720p | --thumbnail |
 * --transcript srt | --info | --steps '<json>'`, plus where to send it and where to save.
 *
 * Pure: turns argv and the environment into options (or a usage error with a message), and the
 * chosen presets into the step list of a task.
 */
import { AUDIO_FORMATS, TRANSCRIPT_FORMATS, VIDEO_HEIGHTS } from '../protocol/ops.ts';
export const DEFAULT_SERVER = 'http://127.0.0.1:8787';

/** Exit codes, documented in the usage text and the README. */
export const EXIT = {
  ok: 0,
  /** the task ended `failed` */
  failed: 1,
  /** bad command line, or the server refused the request as invalid (400) */
  usage: 2,
  /** the server could not be reached, or answered with a server error */
  unreachable: 3,
  /** the task ended `canceled` (also after Ctrl-C, which cancels it) */
  canceled: 4,
  /** the API key was missing or refused (401) */
  auth: 5,
  /** a local file could not be read or written */
  io: 6,
} as const;

export type Preset =
  | { kind: 'audio'; format: (typeof AUDIO_FORMATS)[number] }
  | { kind: 'video'; height: (typeof VIDEO_HEIGHTS)[number] }
  | { kind: 'thumbnail' }
  | { kind: 'transcript'; format: (typeof TRANSCRIPT_FORMATS)[number] }
  | { kind: 'info' };

export interface CliOptions {
  source: string;
  presets: Preset[];
  /** raw steps from --steps, instead of presets */
  steps: Record<string, unknown>[] | null;
  server: string;
  apiKey: string | undefined;
  output: string | undefined;
  json: boolean;
  quiet: boolean;
  force: boolean;
  idempotencyKey: string | undefined;
  label: string | undefined;
  /** the source is a playlist or channel: run it as a batch (see playlist.ts) */
  playlist: boolean;
}

export type ParseResult =
  | { kind: 'run'; options: CliOptions }
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'error'; message: string };

export const USAGE = `Usage: clipyard <url|file> [what] [options]

What (one or more; default --audio mp3):
  --audio [mp3|m4a|opus|wav|flac]   the sound track (default mp3)
  --video [360p|480p|720p|1080p]    an mp4 copy (default 720p)
  --thumbnail                       a still frame as jpg
  --transcript [txt|srt|vtt|json]   speech to text (default srt)
  --info                            the media info (ffprobe JSON)
  --steps '<json>'                  any step list, e.g. '[{"op":"audio","format":"flac"}]'

Options:
  -o, --output <path>     where to save: a file name, or a directory (default: here)
  --server <url>          the clipyard server (env CLIPYARD_URL, default ${DEFAULT_SERVER})
  --key <key>             API key (env CLIPYARD_API_KEY)
  --json                  print one JSON result on stdout and nothing else
  -q, --quiet             no progress output
  -f, --force             overwrite existing files
  --idempotency-key <k>   resubmitting with the same key reuses the task
  --label <text>          a label shown in task lists
  --playlist              the URL is a playlist or channel: one task per entry, as a batch,
                          saved as one zip (folders named by the entries' titles)
  -h, --help              this text
  -v, --version           the version

A local file is uploaded first. On a terminal a progress bar shows the stage, speed and ETA;
elsewhere, plain lines. Ctrl-C cancels the task.

Exit codes: 0 saved; 1 the task failed; 2 bad usage or request; 3 server unreachable or
server error; 4 canceled; 5 API key missing or refused; 6 local file error.`;

const VALUE_FLAGS = new Set(['--output', '-o', '--server', '--key', '--steps', '--idempotency-key', '--label']);

/** A preset flag's optional value: the next word, when it is one of the values the flag knows. */
function presetValue(flag: string, next: string | undefined): { value: string | undefined; used: boolean } {
  const known: Record<string, readonly string[]> = {
    '--audio': AUDIO_FORMATS,
    '--video': [...VIDEO_HEIGHTS.map((h) => `${h}p`), ...VIDEO_HEIGHTS.map(String)],
    '--transcript': TRANSCRIPT_FORMATS,
  };
  if (next !== undefined && known[flag]?.includes(next.toLowerCase())) return { value: next.toLowerCase(), used: true };
  return { value: undefined, used: false };
}

function preset(flag: string, value: string | undefined): Preset | string {
  switch (flag) {
    case '--audio': {
      const format = (value ?? 'mp3').toLowerCase();
      if (!(AUDIO_FORMATS as readonly string[]).includes(format)) {
        return `--audio takes one of ${AUDIO_FORMATS.join(', ')}; not "${value}"`;
      }
      return { kind: 'audio', format: format as (typeof AUDIO_FORMATS)[number] };
    }
    case '--video': {
      const height = Number((value ?? '720p').replace(/p$/i, ''));
      if (!(VIDEO_HEIGHTS as readonly number[]).includes(height)) {
        return `--video takes one of ${VIDEO_HEIGHTS.map((h) => `${h}p`).join(', ')}; not "${value}"`;
      }
      return { kind: 'video', height: height as (typeof VIDEO_HEIGHTS)[number] };
    }
    case '--transcript': {
      const format = (value ?? 'srt').toLowerCase();
      if (!(TRANSCRIPT_FORMATS as readonly string[]).includes(format)) {
        return `--transcript takes one of ${TRANSCRIPT_FORMATS.join(', ')}; not "${value}"`;
      }
      return { kind: 'transcript', format: format as (typeof TRANSCRIPT_FORMATS)[number] };
    }
    case '--thumbnail':
      return value === undefined ? { kind: 'thumbnail' } : '--thumbnail takes no value';
    case '--info':
      return value === undefined ? { kind: 'info' } : '--info takes no value';
    default:
      return `unknown option ${flag}`;
  }
}

export function parseArgs(argv: readonly string[], env: Record<string, string | undefined>): ParseResult {
  const positional: string[] = [];
  const presets: Preset[] = [];
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    if (['--audio', '--video', '--thumbnail', '--transcript', '--info'].includes(flag)) {
      let value = inline;
      if (value === undefined) {
        const next = presetValue(flag, argv[i + 1]);
        if (next.used) i += 1;
        value = next.value;
      }
      const p = preset(flag, value);
      if (typeof p === 'string') return { kind: 'error', message: p };
      presets.push(p);
    } else if (VALUE_FLAGS.has(flag)) {
      const value = inline ?? argv[++i];
      if (value === undefined || (inline === undefined && value.startsWith('-') && value !== '-')) {
        return { kind: 'error', message: `${flag} needs a value` };
      }
      values[flag === '-o' ? '--output' : flag] = value;
    } else if (['-h', '--help'].includes(flag)) {
      return { kind: 'help' };
    } else if (['-v', '--version'].includes(flag)) {
      return { kind: 'version' };
    } else if (['--json', '-q', '--quiet', '-f', '--force', '--playlist'].includes(flag) && inline === undefined) {
      flags.add(flag.replace(/^-(\w)$/, (_, c: string) => ({ q: '--quiet', f: '--force' })[c] ?? flag));
    } else {
      return { kind: 'error', message: `unknown option ${flag}` };
    }
  }
  if (positional.length === 0) return { kind: 'error', message: 'give a media URL or a file' };
  if (positional.length > 1) return { kind: 'error', message: `one URL or file at a time (got ${positional.length})` };

  let steps: Record<string, unknown>[] | null = null;
  if (values['--steps'] !== undefined) {
    if (presets.length > 0)
      return { kind: 'error', message: '--steps replaces --audio/--video/...; give one or the other' };
    try {
      const parsed: unknown = JSON.parse(values['--steps']);
      const list = Array.isArray(parsed) ? parsed : [parsed];
      if (list.length === 0 || !list.every((s) => s && typeof s === 'object' && !Array.isArray(s))) throw new Error();
      steps = list as Record<string, unknown>[];
    } catch {
      return { kind: 'error', message: '--steps takes a JSON step or list of steps, e.g. \'[{"op":"audio"}]\'' };
    }
  }
  const server = values['--server'] ?? env.CLIPYARD_URL ?? DEFAULT_SERVER;
  try {
    const u = new URL(server);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    return { kind: 'error', message: `--server must be an http(s) URL; not "${server}"` };
  }
  return {
    kind: 'run',
    options: {
      source: positional[0]!,
      presets: presets.length || steps ? presets : [{ kind: 'audio', format: 'mp3' }],
      steps,
      server,
      apiKey: values['--key'] ?? (env.CLIPYARD_API_KEY || undefined),
      output: values['--output'],
      json: flags.has('--json'),
      quiet: flags.has('--quiet'),
      force: flags.has('--force'),
      idempotencyKey: values['--idempotency-key'],
      label: values['--label'],
      playlist: flags.has('--playlist'),
    },
  };
}

/** Side products (info, thumbnail) first: they read the input without replacing it for the next step. */
const ORDER: Record<Preset['kind'], number> = { info: 0, thumbnail: 1, video: 2, audio: 3, transcript: 4 };

/** The task's steps for the chosen presets (duplicates dropped). */
export function stepsFor(presets: readonly Preset[]): Record<string, unknown>[] {
  const seen = new Set<string>();
  const out: Record<string, unknown>[] = [];
  for (const p of [...presets].sort((a, b) => ORDER[a.kind] - ORDER[b.kind])) {
    const step: Record<string, unknown> =
      p.kind === 'audio'
        ? { op: 'audio', format: p.format }
        : p.kind === 'video'
          ? { op: 'transcode', format: 'mp4', height: p.height }
          : p.kind === 'thumbnail'
            ? { op: 'thumbnail', format: 'jpg' }
            : p.kind === 'transcript'
              ? { op: 'transcribe', formats: [p.format] }
              : { op: 'probe' };
    const key = JSON.stringify(step);
    if (!seen.has(key)) out.push(step);
    seen.add(key);
  }
  return out;
}
