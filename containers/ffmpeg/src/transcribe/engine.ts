/**
 * Speech-to-text engines behind one interface. A chunk of 16 kHz mono wav goes in, segments with times
 * relative to the chunk come out.
 *
 * - `pocketsphinx` (offline, this runner): CMU PocketSphinx from Debian (`pocketsphinx` +
 *   `pocketsphinx-en-us`), US English, word timings. Used locally, in tests, and by the container.
 *   It is the best recognizer that installs offline here: Whisper-class engines on npm or Debian all
 *   download their model weights at run time.
 * - Workers AI Whisper (production, through the Worker's `AI` binding) sits behind the same Segment
 *   shape in src/lib/transcript.ts; it needs Cloudflare credentials, so it cannot run locally.
 *
 * TRANSCRIBE_ENGINE picks the runner's engine (only `pocketsphinx` today); POCKETSPHINX_MODEL_DIR
 * overrides where the acoustic model, language model and dictionary live.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { Segment } from '../../../../src/lib/transcript.ts';
import { type Job, JobError } from '../job.ts';
import { lastLine, runTool } from '../tools.ts';

export interface TranscriptionEngine {
  readonly name: string;
  /** Transcribe one chunk; times in the result are relative to the chunk. Throws JobError. */
  transcribe(job: Job, wav: string, opts: { timeoutMs: number }): Promise<Segment[]>;
}

export interface EngineStatus {
  engine: string;
  available: boolean;
  detail?: string;
}

export const DEFAULT_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';
const POCKETSPHINX = 'pocketsphinx_continuous';

/** A word with its time, from pocketsphinx's `-time yes` lines: `word start end confidence`. */
interface Word {
  word: string;
  start: number;
  end: number;
}

/** Segment boundaries: a pause this long, or this many words, starts a new segment. */
const SEGMENT_GAP_SECONDS = 0.5;
const SEGMENT_MAX_WORDS = 12;

/**
 * Parse pocketsphinx_continuous output into segments. Utterance markers (<s>, </s>), silences
 * (<sil>) and fillers ([NOISE], ++UH++) end a segment and are dropped; alternate pronunciations
 * (`the(2)`) lose their suffix. Pure.
 */
export function parsePocketsphinx(stdout: string): Segment[] {
  const words: (Word | null)[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^(\S+)\s+(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?(?:e-?\d+)?)$/.exec(line.trim());
    if (!m) continue;
    const token = m[1]!;
    if (/^(<\/?s>|<sil>|\[.*\]|\+\+.*\+\+)$/.test(token)) {
      words.push(null);
      continue;
    }
    words.push({ word: token.replace(/\(\d+\)$/, ''), start: Number(m[2]), end: Number(m[3]) });
  }
  const segments: Segment[] = [];
  let cur: Word[] = [];
  const flush = () => {
    if (cur.length) {
      segments.push({ start: cur[0]!.start, end: cur.at(-1)!.end, text: cur.map((w) => w.word).join(' ') });
    }
    cur = [];
  };
  let lastEnd = 0;
  for (const w of words) {
    if (!w) {
      if (cur.length && cur.length >= SEGMENT_MAX_WORDS / 2) flush();
      continue;
    }
    if (cur.length && (w.start - lastEnd >= SEGMENT_GAP_SECONDS || cur.length >= SEGMENT_MAX_WORDS)) flush();
    cur.push(w);
    lastEnd = w.end;
  }
  flush();
  return segments;
}

export class PocketsphinxEngine implements TranscriptionEngine {
  readonly name = 'pocketsphinx';
  private readonly modelDir: string;

  constructor(modelDir = DEFAULT_MODEL_DIR) {
    this.modelDir = modelDir;
  }

  private modelArgs(): string[] {
    return [
      '-hmm',
      path.join(this.modelDir, 'en-us'),
      '-lm',
      path.join(this.modelDir, 'en-us.lm.bin'),
      '-dict',
      path.join(this.modelDir, 'cmudict-en-us.dict'),
    ];
  }

  async transcribe(job: Job, wav: string, opts: { timeoutMs: number }): Promise<Segment[]> {
    const r = await runTool(
      job,
      POCKETSPHINX,
      ['-infile', wav, '-time', 'yes', '-logfn', '/dev/null', ...this.modelArgs()],
      { cwd: job.dir, captureStdout: true, timeoutMs: opts.timeoutMs },
    );
    if (r.code !== 0) {
      if (r.signal) throw new JobError('runner.crashed', `${POCKETSPHINX} was killed (${r.signal})`, true);
      throw new JobError('runner.crashed', `${POCKETSPHINX} failed: ${lastLine(r.stderr) || `exit ${r.code}`}`, true);
    }
    return parsePocketsphinx(r.stdout);
  }

  /** Is the recognizer installed with its model? Looked up once at start for GET /health. */
  async status(): Promise<EngineStatus> {
    const dirs = (process.env.PATH ?? '/usr/bin:/bin').split(path.delimiter);
    let binary = false;
    for (const d of dirs) {
      try {
        await access(path.join(d, POCKETSPHINX));
        binary = true;
        break;
      } catch {
        /* not here */
      }
    }
    let model = true;
    try {
      await access(path.join(this.modelDir, 'en-us.lm.bin'));
    } catch {
      model = false;
    }
    if (binary && model) return { engine: this.name, available: true };
    const missing = [binary ? null : POCKETSPHINX, model ? null : `the model in ${this.modelDir}`].filter(Boolean);
    return { engine: this.name, available: false, detail: `missing ${missing.join(' and ')}` };
  }
}

/** The engine this runner uses, from its environment. */
export function engineFromEnv(env: NodeJS.ProcessEnv): PocketsphinxEngine {
  const name = env.TRANSCRIBE_ENGINE ?? 'pocketsphinx';
  if (name !== 'pocketsphinx') throw new Error(`unknown TRANSCRIBE_ENGINE ${name} (this runner has pocketsphinx)`);
  return new PocketsphinxEngine(env.POCKETSPHINX_MODEL_DIR || DEFAULT_MODEL_DIR);
}
