/**
 * The production engine: Workers AI Whisper, called per chunk from the runner
 * over Cloudflare's REST API, so chunking, parallelism, per-chunk retries and merging stay the same
 * code as the offline engine. Needs CF_ACCOUNT_ID and CF_AI_TOKEN (a token with Workers AI read
 * access) in the container's environment. Without a `language` it sends the chunk to `@cf/openai/whisper`
 * (which detects the language and times each word); with one, to `@cf/openai/whisper-large-v3-turbo`,
 * the Whisper model there that takes a language (its answer has timed segments).
 *
 * It cannot run locally or in tests (it needs Cloudflare credentials and the internet); the tests
 * cover its response parsing and its refusal without credentials, and run real speech through the
 * offline engine (engine.ts) instead.
 */
import { readFile } from 'node:fs/promises';
import { type Segment, segmentsFromWords, type TimedWord } from '../../../../src/lib/transcript.ts';
import { type Job, JobError } from '../job.ts';
import type { EngineStatus, TranscribeOptions, TranscriptionEngine } from './engine.ts';

export const WHISPER_MODEL = '@cf/openai/whisper';
/** Used when the step names the language: it accepts one (ISO 639-1). */
export const WHISPER_LANGUAGE_MODEL = '@cf/openai/whisper-large-v3-turbo';

interface WhisperResult {
  text?: string;
  words?: { word?: string; start?: number; end?: number }[];
  segments?: { start?: number; end?: number; text?: string }[];
}

/**
 * Whisper's REST answer as segments: timed words (`{result: {text, words}}`) grouped into segments, else
 * its timed segments (`{result: {segments}}`, clamped to the chunk), else the text as one segment. Pure.
 */
export function whisperSegments(body: unknown, chunkSeconds: number): Segment[] {
  const result = ((body as { result?: WhisperResult } | null)?.result ?? body ?? {}) as WhisperResult;
  const words: TimedWord[] = (result.words ?? []).flatMap((w) =>
    typeof w.word === 'string' && typeof w.start === 'number' && typeof w.end === 'number'
      ? [{ word: w.word, start: w.start, end: w.end }]
      : [],
  );
  if (words.length > 0) return segmentsFromWords(words);
  const segments: Segment[] = (result.segments ?? []).flatMap((seg) =>
    typeof seg.start === 'number' && typeof seg.end === 'number' && typeof seg.text === 'string' && seg.text.trim()
      ? [
          {
            start: Math.max(0, seg.start),
            end: Math.min(chunkSeconds, Math.max(seg.start, seg.end)),
            text: seg.text.trim(),
          },
        ]
      : [],
  );
  if (segments.length > 0) return segments;
  const text = (result.text ?? '').trim();
  return text ? [{ start: 0, end: chunkSeconds, text }] : [];
}

export class WorkersAiWhisperEngine implements TranscriptionEngine {
  readonly name = 'workers-ai-whisper';
  readonly model = WHISPER_MODEL;
  readonly languages = 'any';
  /** Requests in flight at once: the work happens on Cloudflare, so this is not bound to the runner's cores. */
  readonly defaultParallel = 3;
  private readonly accountId: string;
  private readonly token: string;

  constructor(accountId: string, token: string) {
    this.accountId = accountId;
    this.token = token;
  }

  async transcribe(job: Job, wav: string, opts: TranscribeOptions): Promise<Segment[]> {
    if (!this.accountId || !this.token) {
      throw new JobError('internal', 'Workers AI needs CF_ACCOUNT_ID and CF_AI_TOKEN on the media runner');
    }
    const audio = await readFile(wav);
    const model = opts.language ? WHISPER_LANGUAGE_MODEL : WHISPER_MODEL;
    const url = `https://api.cloudflare.com/client/v4/accounts/${encodeURIComponent(this.accountId)}/ai/run/${model}`;
    const request = opts.language
      ? {
          headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ audio: audio.toString('base64'), language: opts.language }),
        }
      : { headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/octet-stream' }, body: audio };
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        ...request,
        signal: AbortSignal.any([job.signal, AbortSignal.timeout(opts.timeoutMs)]),
      });
    } catch (err) {
      if (job.signal.aborted) throw new JobError('job.canceled', 'canceled');
      throw new JobError('runner.crashed', `Workers AI did not answer: ${String(err)}`, true);
    }
    if (!res.ok) {
      await res.body?.cancel();
      const retryable = res.status === 429 || res.status >= 500;
      throw new JobError(retryable ? 'runner.busy' : 'internal', `Workers AI answered ${res.status}`, retryable);
    }
    // seconds of 16 kHz mono 16-bit PCM after the 44-byte header
    return whisperSegments(await res.json(), Math.max(0, (audio.length - 44) / 32_000));
  }

  async status(): Promise<EngineStatus> {
    if (this.accountId && this.token) return { engine: this.name, model: this.model, available: true };
    return { engine: this.name, model: this.model, available: false, detail: 'missing CF_ACCOUNT_ID or CF_AI_TOKEN' };
  }
}
