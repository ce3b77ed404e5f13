/**
 * Transcripts: segments with start/end times, merged from chunks with the right offsets, written as
 * txt, srt, vtt and json.
 *
 * Pure; used by the runner's `transcribe` op (containers/ffmpeg/src/transcribe) and by any engine that
 * transcribes chunks elsewhere (Workers AI), so every engine's output looks the same.
 */

export interface Segment {
  /** seconds from the start of the media */
  start: number;
  end: number;
  text: string;
}

export interface ChunkTranscript {
  /** where the chunk starts in the media, seconds */
  offset: number;
  /** the chunk's length, seconds: no segment of it may end past offset + duration */
  duration: number;
  /** times relative to the chunk */
  segments: readonly Segment[];
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** A recognized word with its time in the chunk; `null` marks a pause or utterance break. */
export interface TimedWord {
  word: string;
  start: number;
  end: number;
}

/** Segment boundaries: a pause this long, or this many words, starts a new segment. */
export const SEGMENT_GAP_SECONDS = 0.5;
export const SEGMENT_MAX_WORDS = 12;

/**
 * Group timed words into caption-sized segments: a new one after a pause, after a break marker
 * once the segment has some length, or when it is full. Every engine's words go through this. Pure.
 */
export function segmentsFromWords(words: readonly (TimedWord | null)[]): Segment[] {
  const segments: Segment[] = [];
  let cur: TimedWord[] = [];
  const flush = () => {
    if (cur.length) {
      segments.push({ start: cur[0]!.start, end: cur.at(-1)!.end, text: cur.map((w) => w.word).join(' ') });
    }
    cur = [];
  };
  let lastEnd = 0;
  for (const w of words) {
    if (!w) {
      if (cur.length >= SEGMENT_MAX_WORDS / 2) flush();
      continue;
    }
    const word = w.word.trim();
    if (!word || !Number.isFinite(w.start) || !Number.isFinite(w.end)) continue;
    if (cur.length && (w.start - lastEnd >= SEGMENT_GAP_SECONDS || cur.length >= SEGMENT_MAX_WORDS)) flush();
    cur.push({ word, start: w.start, end: Math.max(w.start, w.end) });
    lastEnd = w.end;
  }
  flush();
  return segments;
}

/**
 * Shift each chunk's segments by its offset and put them in order. Times are clamped into the chunk
 * and made monotonic (a segment never starts before the previous one ended), empty text is dropped.
 */
export function mergeChunks(chunks: readonly ChunkTranscript[]): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  for (const c of [...chunks].sort((a, b) => a.offset - b.offset)) {
    const limit = c.offset + c.duration;
    for (const s of [...c.segments].sort((a, b) => a.start - b.start)) {
      const text = s.text.replace(/\s+/g, ' ').trim();
      if (!text) continue;
      const start = Math.min(limit, Math.max(last, c.offset + Math.max(0, s.start)));
      const end = Math.min(limit, Math.max(start, c.offset + s.end));
      out.push({ start: round3(start), end: round3(end), text });
      last = end;
    }
  }
  return out;
}

function clock(seconds: number, sep: ',' | '.'): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${sep}${pad(ms % 1000, 3)}`;
}

export function toTxt(segments: readonly Segment[]): string {
  return segments.length ? `${segments.map((s) => s.text).join('\n')}\n` : '';
}

export function toSrt(segments: readonly Segment[]): string {
  return segments.map((s, i) => `${i + 1}\n${clock(s.start, ',')} --> ${clock(s.end, ',')}\n${s.text}\n`).join('\n');
}

export function toVtt(segments: readonly Segment[]): string {
  const cues = segments.map((s) => `${clock(s.start, '.')} --> ${clock(s.end, '.')}\n${s.text}\n`);
  return `WEBVTT\n\n${cues.join('\n')}`;
}

export interface TranscriptJson {
  engine: string;
  /** the engine's model, when it says */
  model?: string;
  /** ISO 639-1 code of the speech: asked for, or the engine's only language; null when detected */
  language?: string | null;
  duration: number | null;
  chunks: number;
  text: string;
  segments: Segment[];
}

export function toJson(
  segments: readonly Segment[],
  meta: { engine: string; model?: string; language?: string | null; duration: number | null; chunks: number },
) {
  const body: TranscriptJson = {
    engine: meta.engine,
    ...(meta.model ? { model: meta.model } : {}),
    ...(meta.language !== undefined ? { language: meta.language } : {}),
    duration: meta.duration,
    chunks: meta.chunks,
    text: segments.map((s) => s.text).join(' '),
    segments: [...segments],
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

/** Parse SRT or WebVTT cues (for checks and for re-use as render subtitles). Pure; skips junk. */
export function parseCues(text: string): Segment[] {
  const out: Segment[] = [];
  const time = (t: string) => {
    const m = /^(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{1,3})$/.exec(t.trim());
    if (!m) return Number.NaN;
    return Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]!.padEnd(3, '0')) / 1000;
  };
  for (const block of text.replace(/\r/g, '').split(/\n{2,}/)) {
    const lines = block.split('\n');
    const at = lines.findIndex((l) => l.includes('-->'));
    if (at < 0) continue;
    const [a, b] = lines[at]!.split('-->');
    const start = time(a ?? '');
    const end = time((b ?? '').trim().split(/\s+/)[0] ?? '');
    if (!Number.isFinite(start) || !Number.isFinite(end)) continue;
    out.push({
      start,
      end,
      text: lines
        .slice(at + 1)
        .join(' ')
        .trim(),
    });
  }
  return out;
}
