/**
 * What ffmpeg and ffprobe said, turned into a stable code and a message a user can read. Pure.
 *
 * Only a fault of the runner itself (ffmpeg killed by a signal, out of disk or memory) is
 * `runner.crashed`; everything the input causes is a non-retryable `media.*` code. Messages never show
 * the runner's paths or memory addresses: the tools print both, and they mean nothing to a user.
 *
 * Used by media.ts (every ffmpeg/ffprobe run), the output check and the pipeline's last-resort catch.
 */
import type { ErrorCode } from '../../../src/protocol/errors.ts';

export interface Classified {
  code: ErrorCode;
  message: string;
  retryable: boolean;
}

/** Longest tool message kept in a user-facing error. */
const MAX_DETAIL_CHARS = 200;

/**
 * A tool's text with the runner's internals taken out: absolute paths become their last part (with
 * the runner's own `out-`/`extra-` prefixes dropped), `[demuxer @ 0x55...]` tags and addresses go.
 */
export function publicText(text: string): string {
  return text
    .replace(/\[[^\]\n]*@ 0x[0-9a-f]+\]\s*/gi, '')
    .replace(/0x[0-9a-f]{6,}/gi, '')
    .replace(/(?:\/[\w.+@=-]+)+\/([\w.+@=-]+)/g, (_m, last: string) =>
      /^input\.|^extra-/.test(last) ? 'the input' : last.replace(/^out-/, ''),
    )
    .replace(/\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b/g, 'an address')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The last meaningful stderr line, made public and short. */
export function detailOf(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(Conversion failed!|Error while processing the decoded data)/i.test(l));
  return publicText(lines.at(-1) ?? '').slice(0, MAX_DETAIL_CHARS);
}

const with_ = (base: string, detail: string) => (detail ? `${base} (${detail})` : base);

/** Patterns in ffmpeg/ffprobe stderr, most specific first. */
const RULES: { re: RegExp; code: ErrorCode; message: string }[] = [
  {
    re: /No space left on device|Cannot allocate memory|Resource temporarily unavailable/i,
    code: 'runner.crashed',
    message: 'the media runner ran out of resources',
  },
  {
    re: /moov atom not found|partial file|stream ends prematurely|unexpected end of (?:file|stream)/i,
    code: 'media.truncated',
    message: 'the file is cut short: its end is missing',
  },
  {
    re: /matches no streams|does not contain any stream|Output file #0 does not contain|Stream specifier .* matches no/i,
    code: 'media.no_stream',
    message: 'the input has no stream this operation can use',
  },
  {
    re: /Decoder \(codec [^)]*\) not found|Unknown decoder|decoder .* not found|not supported by the decoder|Unsupported codec|codec not currently supported|Could not find codec parameters|unspecified pixel format/i,
    code: 'media.codec_unsupported',
    message: 'the input uses a codec the media runner cannot decode',
  },
  {
    re: /Invalid data found when processing input|invalid (?:frame|NAL|header)|corrupt|Error splitting the input|error while decoding|Header missing|could not find sync/i,
    code: 'media.corrupt',
    message: 'the input is damaged: ffmpeg could not decode it',
  },
];

/** Classify a failed (non-zero exit or killed) ffmpeg/ffprobe run by what it said. */
export function classifyToolFailure(tool: 'ffmpeg' | 'ffprobe', stderr: string, signal: string | null): Classified {
  if (signal) return { code: 'runner.crashed', message: `${tool} was stopped (${signal})`, retryable: true };
  const detail = detailOf(stderr);
  for (const rule of RULES) {
    if (rule.re.test(stderr)) {
      return { code: rule.code, message: with_(rule.message, detail), retryable: rule.code === 'runner.crashed' };
    }
  }
  return { code: 'media.corrupt', message: with_(`${tool} could not process the input`, detail), retryable: false };
}

/**
 * Trouble a tool reports while still exiting 0: ffmpeg finishes a truncated file with "partial file"
 * errors and an output that simply stops. Null when the run looks clean.
 */
export function classifyToolWarnings(stderr: string): Classified | null {
  if (!/partial file|moov atom not found|stream ends prematurely/i.test(stderr)) return null;
  return {
    code: 'media.truncated',
    message: with_('the file is cut short: its end is missing', detailOf(stderr)),
    retryable: false,
  };
}

/** A message for an unexpected error inside the runner, without its paths. */
export function crashMessage(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return `the media runner hit a bug (${publicText(text).slice(0, MAX_DETAIL_CHARS)})`;
}
