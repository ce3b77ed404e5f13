/**
 * Speech-to-text engines behind one interface. A chunk of 16 kHz mono wav goes in, segments with times
 * relative to the chunk come out.
 *
 * - `pocketsphinx` (offline, this runner): CMU PocketSphinx from Debian (`pocketsphinx` +
 *   `pocketsphinx-en-us`), US English, word timings. Used locally, in tests, and by the container.
 *   It is the best recognizer that installs offline here: the Whisper-class bindings on npm (whisper.cpp
 *   prebuilds such as @fugood/whisper.node load fine) ship no weights, and every package that offers
 *   weights downloads them from a model hub at install or run time; Debian has no Whisper at all.
 *   English only, so it takes `language` en (or none) and refuses any other. bench/TRANSCRIBE.md has its
 *   measured word error rate and speed. Its decoder flags stay at their defaults: a sweep on eight
 *   espeak-ng sentences (language weight 4-7, wider beams, each CMN mode, noise or silence removal off)
 *   moved the word error rate only between 84% and 94%.
 * - `workers-ai` (production): Workers AI Whisper per chunk (workers-ai.ts); it needs Cloudflare
 *   credentials and the internet, so it cannot run locally or in tests.
 *
 * TRANSCRIBE_ENGINE picks the runner's engine (default `pocketsphinx`); POCKETSPHINX_MODEL_DIR
 * overrides where the acoustic model, language model and dictionary live.
 */
import { access } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Segment, segmentsFromWords, type TimedWord } from '../../../../src/lib/transcript.ts';
import { type Job, JobError } from '../job.ts';
import { lastLine, runTool } from '../tools.ts';
import { WorkersAiWhisperEngine } from './workers-ai.ts';

export interface TranscribeOptions {
  timeoutMs: number;
  /** ISO 639-1 code of the speech; absent: the engine detects it (or assumes its only language). */
  language?: string;
}

export interface TranscriptionEngine {
  readonly name: string;
  /** The model it runs, as GET /health names it. */
  readonly model: string;
  /** Languages it recognizes (ISO 639-1), or 'any' for a multilingual model that detects them. */
  readonly languages: readonly string[] | 'any';
  /**
   * Chunks transcribed at once when the step does not say. A CPU-bound engine gets one per core: a
   * second process on a busy core only splits its time and adds a model's memory. A remote engine
   * waits on the network, so a few requests in flight pay off whatever the cores.
   */
  readonly defaultParallel: number;
  /** Transcribe one chunk; times in the result are relative to the chunk. Throws JobError. */
  transcribe(job: Job, wav: string, opts: TranscribeOptions): Promise<Segment[]>;
}

export interface EngineStatus {
  engine: string;
  model: string;
  available: boolean;
  detail?: string;
}

/** Most chunks at once the schema allows; the CPU-bound default never goes past it. */
const MAX_PARALLEL = 8;

/** One chunk per core for a CPU-bound engine (2 on the 2-core machines this runs on). */
export function cpuParallel(cores = os.availableParallelism()): number {
  return Math.max(1, Math.min(MAX_PARALLEL, cores));
}

/**
 * Why `engine` cannot transcribe speech in `language`, or null when it can (no language asked for
 * means detect it, which every engine can: a one-language engine assumes its language). Pure.
 */
export function languageRefusal(
  engine: Pick<TranscriptionEngine, 'name' | 'languages'>,
  language?: string,
): string | null {
  if (!language || engine.languages === 'any') return null;
  const code = language.toLowerCase();
  if (engine.languages.includes(code)) return null;
  return `${engine.name} recognizes ${engine.languages.join(', ')} only, not "${language}"; set TRANSCRIBE_ENGINE=workers-ai on the runner for other languages`;
}

export const DEFAULT_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';
const POCKETSPHINX = 'pocketsphinx_continuous';

/**
 * Parse pocketsphinx_continuous output into segments. Utterance markers (<s>, </s>), silences
 * (<sil>) and fillers ([NOISE], ++UH++) end a segment and are dropped; alternate pronunciations
 * (`the(2)`) lose their suffix. Pure.
 */
export function parsePocketsphinx(stdout: string): Segment[] {
  const words: (TimedWord | null)[] = [];
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
  return segmentsFromWords(words);
}

export class PocketsphinxEngine implements TranscriptionEngine {
  readonly name = 'pocketsphinx';
  readonly languages = ['en'] as const;
  readonly defaultParallel = cpuParallel();
  private readonly modelDir: string;

  constructor(modelDir = DEFAULT_MODEL_DIR) {
    this.modelDir = modelDir;
  }

  /** The CMU Sphinx model directory's name (`en-us`: US English acoustic model, 3-gram language model). */
  get model(): string {
    return `cmusphinx-${path.basename(this.modelDir)}`;
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

  async transcribe(job: Job, wav: string, opts: TranscribeOptions): Promise<Segment[]> {
    const refusal = languageRefusal(this, opts.language);
    if (refusal) throw new JobError('transcribe.language_unsupported', refusal);
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
    if (binary && model) return { engine: this.name, model: this.model, available: true };
    const missing = [binary ? null : POCKETSPHINX, model ? null : `the model in ${this.modelDir}`].filter(Boolean);
    return { engine: this.name, model: this.model, available: false, detail: `missing ${missing.join(' and ')}` };
  }
}

/** The engine this runner uses, from its environment: `pocketsphinx` (default) or `workers-ai`. */
export function engineFromEnv(env: NodeJS.ProcessEnv): TranscriptionEngine & { status(): Promise<EngineStatus> } {
  const name = env.TRANSCRIBE_ENGINE || 'pocketsphinx';
  if (name === 'workers-ai') return new WorkersAiWhisperEngine(env.CF_ACCOUNT_ID ?? '', env.CF_AI_TOKEN ?? '');
  if (name !== 'pocketsphinx') throw new Error(`unknown TRANSCRIBE_ENGINE ${name} (pocketsphinx or workers-ai)`);
  return new PocketsphinxEngine(env.POCKETSPHINX_MODEL_DIR || DEFAULT_MODEL_DIR);
}
