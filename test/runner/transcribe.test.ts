/**
 * Chunked, parallel transcription on the media runner with the offline engine (pocketsphinx) and
 * speech synthesized by espeak-ng: real words come back with monotonic timestamps inside the audio,
 * progress counts finished chunks, a failing chunk is retried alone, /health names the engine and its
 * model, and a language the engine cannot do is refused. Plus the pure pieces: chunk planning on
 * silences, pocketsphinx parsing, Whisper answers, languages, default parallelism and the writers.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Job, JobError } from '../../containers/ffmpeg/src/job.ts';
import { detectSilences, extractSpeechAudio, planChunks } from '../../containers/ffmpeg/src/transcribe/chunking.ts';
import {
  cpuParallel,
  engineFromEnv,
  languageRefusal,
  PocketsphinxEngine,
  parsePocketsphinx,
  type TranscriptionEngine,
} from '../../containers/ffmpeg/src/transcribe/engine.ts';
import { transcribeChunks } from '../../containers/ffmpeg/src/transcribe/run-chunks.ts';
import { whisperSegments } from '../../containers/ffmpeg/src/transcribe/workers-ai.ts';
import { mergeChunks, parseCues, type Segment, toSrt, toVtt } from '../../src/lib/transcript.ts';
import { stepSchema } from '../../src/protocol/ops.ts';
import { type MediaServer, startMediaServer } from '../e2e/media-server.ts';
import {
  fetchOutput,
  ffprobe,
  HEARD,
  lastEvent,
  newJobId,
  runJobSpec,
  SPEECH,
  speak,
  startTestRunner,
  type TestRunner,
} from './harness.ts';

let dir: string;
let media: MediaServer;
let t: TestRunner;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-stt-'));
  speak(SPEECH, path.join(dir, 'speech.wav'));
  media = await startMediaServer(dir);
  t = await startTestRunner();
});

afterAll(async () => {
  await t?.close();
  await media?.close();
  rmSync(dir, { recursive: true, force: true });
});

function expectSaneTimes(segments: readonly Segment[], duration: number): void {
  let last = 0;
  for (const s of segments) {
    expect(s.start).toBeGreaterThanOrEqual(last);
    expect(s.end).toBeGreaterThanOrEqual(s.start);
    expect(s.end).toBeLessThanOrEqual(duration + 0.01);
    last = s.end;
  }
}

describe('transcribe on the runner', () => {
  it('transcribes synthesized speech in parallel chunks into txt, srt, vtt and json', async () => {
    const duration = Number(ffprobe(path.join(dir, 'speech.wav')).format.duration);
    const jobId = newJobId('stt');
    const started = Date.now();
    const events = await runJobSpec(t.base, {
      jobId,
      step: { op: 'transcribe', chunkSeconds: 5, parallel: 2 },
      input: { kind: 'url', url: `${media.base}/speech.wav` },
    });
    const took = Date.now() - started;
    expect(lastEvent(events)).toMatchObject({ type: 'done' });
    const names = events.filter((e) => e.type === 'output').map((e) => (e as { name: string }).name);
    expect(names).toEqual(['transcript.txt', 'transcript.srt', 'transcript.vtt', 'transcript.json']);

    // progress: one event per finished chunk, counting up to the total
    const chunkMessages = events.flatMap((e) =>
      e.type === 'progress' && /^transcribed \d+ of \d+ chunks$/.test(e.message ?? '') ? [e.message!] : [],
    );
    const total = Number(/of (\d+)/.exec(chunkMessages[0] ?? '')?.[1]);
    expect(total).toBeGreaterThanOrEqual(3);
    expect(chunkMessages.at(-1)).toBe(`transcribed ${total} of ${total} chunks`);

    const json = JSON.parse(readFileSync(await fetchOutput(t.base, jobId, 'transcript.json', dir), 'utf8')) as {
      engine: string;
      model: string;
      language: string | null;
      chunks: number;
      text: string;
      segments: Segment[];
    };
    expect(json.engine).toBe('pocketsphinx');
    // no language asked for: the English-only engine says which language it transcribed
    expect(json).toMatchObject({ model: 'cmusphinx-en-us', language: 'en' });
    expect(json.chunks).toBe(total);
    const words = new Set(json.text.toLowerCase().split(/\W+/));
    const heard = HEARD.filter((w) => words.has(w));
    expect(heard.length, `heard: ${json.text}`).toBeGreaterThanOrEqual(3);
    expectSaneTimes(json.segments, duration);

    const srt = parseCues(readFileSync(await fetchOutput(t.base, jobId, 'transcript.srt', dir), 'utf8'));
    const vttText = readFileSync(await fetchOutput(t.base, jobId, 'transcript.vtt', dir), 'utf8');
    expect(vttText.startsWith('WEBVTT\n')).toBe(true);
    expect(srt).toHaveLength(json.segments.length);
    expect(parseCues(vttText)).toEqual(srt);
    const txt = readFileSync(await fetchOutput(t.base, jobId, 'transcript.txt', dir), 'utf8');
    expect(txt.replace(/\n/g, ' ').trim()).toBe(json.text);
    console.log(`transcribed ${duration.toFixed(1)} s of speech in ${total} chunks in ${took} ms: ${json.text}`);
  });

  it('names its engine and model in /health, and refuses a language that engine does not know', async () => {
    const health = (await (await fetch(`${t.base}/health`)).json()) as { transcriber?: unknown };
    expect(health.transcriber).toEqual({ engine: 'pocketsphinx', model: 'cmusphinx-en-us', available: true });
    const events = await runJobSpec(t.base, {
      jobId: newJobId('stt-fr'),
      step: { op: 'transcribe', language: 'FR' },
      input: { kind: 'url', url: `${media.base}/speech.wav` },
    });
    expect(lastEvent(events)).toMatchObject({
      type: 'error',
      code: 'transcribe.language_unsupported',
      retryable: false,
      message: expect.stringMatching(/pocketsphinx recognizes en only, not "fr"/),
    });
  });

  it('retries a failing chunk alone and keeps the others', async () => {
    const jobDir = path.join(dir, 'retry-job');
    mkdirSync(jobDir, { recursive: true });
    const job = new Job(
      { jobId: 'retry', step: { op: 'transcribe', chunkSeconds: 5, parallel: 2 }, input: { kind: 'url', url: 'x' } },
      jobDir,
    );
    const wav = await extractSpeechAudio(job, path.join(dir, 'speech.wav'), null, 60_000, () => {});
    const duration = Number(ffprobe(wav).format.duration);
    const chunks = planChunks(duration, await detectSilences(job, wav, 60_000), 5);
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    const real = new PocketsphinxEngine();
    const calls: string[] = [];
    let failed = false;
    const flaky: TranscriptionEngine = {
      name: 'flaky-pocketsphinx',
      model: real.model,
      languages: real.languages,
      defaultParallel: 2,
      transcribe: async (j, file, opts) => {
        calls.push(path.basename(file));
        if (!failed && file.endsWith('chunk-0001.wav')) {
          failed = true;
          throw new JobError('runner.crashed', 'the recognizer crashed', true);
        }
        return real.transcribe(j, file, opts);
      },
    };
    const retried: number[] = [];
    const done: number[] = [];
    const results = await transcribeChunks({
      job,
      engine: flaky,
      wav,
      chunks,
      parallel: 2,
      timeLeftMs: () => 60_000,
      onChunkDone: (n) => done.push(n),
      onRetry: (chunk) => retried.push(chunk.index),
    });
    expect(retried).toEqual([1]);
    // every chunk ran once, chunk 1 twice: nothing else was redone
    expect(calls.filter((c) => c === 'chunk-0001.wav')).toHaveLength(2);
    expect(calls).toHaveLength(chunks.length + 1);
    expect(done).toEqual(chunks.map((_, i) => i + 1));
    expect(results.map((r) => r.offset)).toEqual(chunks.map((c) => c.start));
    expectSaneTimes(mergeChunks(results), duration);
  });

  it('fails with the chunk named once a chunk keeps failing', async () => {
    const jobDir = path.join(dir, 'fail-job');
    mkdirSync(jobDir, { recursive: true });
    const job = new Job(
      { jobId: 'fail', step: { op: 'transcribe', chunkSeconds: 5, parallel: 2 }, input: { kind: 'url', url: 'x' } },
      jobDir,
    );
    const wav = await extractSpeechAudio(job, path.join(dir, 'speech.wav'), null, 60_000, () => {});
    const chunks = planChunks(Number(ffprobe(wav).format.duration), [], 5);
    const broken: TranscriptionEngine = {
      name: 'broken',
      model: 'none',
      languages: 'any',
      defaultParallel: 2,
      transcribe: async () => {
        throw new JobError('runner.crashed', 'the recognizer crashed', true);
      },
    };
    await expect(
      transcribeChunks({
        job,
        engine: broken,
        wav,
        chunks,
        parallel: 1,
        timeLeftMs: () => 60_000,
        onChunkDone: () => {},
      }),
    ).rejects.toThrow(/chunk 1 of \d+: the recognizer crashed/);
  });
});

describe('transcription pieces', () => {
  it('cuts chunks inside silences near the target length', () => {
    // silences (reported 0.4 s in) near 4.8 s and 10.1 s; target 5 s over 14 s
    const chunks = planChunks(14, [2.0, 4.8, 10.1], 5);
    expect(chunks.map((c) => [c.start, c.end])).toEqual([
      [0, 5],
      [5, 10.3],
      [10.3, 14],
    ]);
    // no silence: cut at the target; a short tail joins the last chunk
    expect(planChunks(11, [], 5).map((c) => [c.start, c.end])).toEqual([
      [0, 5],
      [5, 11],
    ]);
    expect(planChunks(3, [], 30)).toEqual([{ index: 0, start: 0, end: 3 }]);
    expect(planChunks(0, [], 30)).toEqual([]);
  });

  it('parses pocketsphinx word timings into segments', () => {
    const out = [
      'good morning today',
      '<s> 0.000 0.260 0.999',
      'good 0.270 0.440 0.69',
      'morning(2) 0.450 0.900 0.5',
      '<sil> 0.900 1.800 1.0',
      'today 1.800 2.100 0.8',
      '</s> 2.100 2.200 1.0',
    ].join('\n');
    expect(parsePocketsphinx(out)).toEqual([
      { start: 0.27, end: 0.9, text: 'good morning' },
      { start: 1.8, end: 2.1, text: 'today' },
    ]);
  });

  it('merges chunks with offsets, monotonic and clamped, and writes srt and vtt', () => {
    const merged = mergeChunks([
      { offset: 5, duration: 5, segments: [{ start: 0.5, end: 6, text: 'second  chunk' }] },
      {
        offset: 0,
        duration: 5,
        segments: [
          { start: 1, end: 2.5, text: 'first' },
          { start: 3, end: 4, text: ' ' },
        ],
      },
    ]);
    expect(merged).toEqual([
      { start: 1, end: 2.5, text: 'first' },
      { start: 5.5, end: 10, text: 'second chunk' },
    ]);
    expect(toSrt(merged)).toBe(
      '1\n00:00:01,000 --> 00:00:02,500\nfirst\n\n2\n00:00:05,500 --> 00:00:10,000\nsecond chunk\n',
    );
    expect(toVtt(merged)).toBe(
      'WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nfirst\n\n00:00:05.500 --> 00:00:10.000\nsecond chunk\n',
    );
    expect(parseCues(toSrt(merged))).toEqual(merged);
  });

  it('reads Workers AI Whisper answers and refuses to run without credentials (it cannot run offline)', async () => {
    const body = {
      success: true,
      result: {
        text: 'hello there. general news',
        words: [
          { word: 'hello', start: 0.1, end: 0.4 },
          { word: 'there.', start: 0.45, end: 0.8 },
          { word: 'general', start: 1.6, end: 2 },
          { word: 'news', start: 2.05, end: 2.4 },
        ],
      },
    };
    expect(whisperSegments(body, 30)).toEqual([
      { start: 0.1, end: 0.8, text: 'hello there.' },
      { start: 1.6, end: 2.4, text: 'general news' },
    ]);
    expect(whisperSegments({ result: { text: ' only text ' } }, 12.5)).toEqual([
      { start: 0, end: 12.5, text: 'only text' },
    ]);
    expect(whisperSegments({ result: {} }, 5)).toEqual([]);
    // the language-taking model answers with timed segments; they stay inside the chunk
    expect(
      whisperSegments(
        {
          result: {
            text: 'bonjour. à demain',
            segments: [
              { start: 0.2, end: 1.1, text: ' bonjour.' },
              { start: 1.5, end: 31, text: 'à demain' },
              { start: 2, end: 3, text: '  ' },
            ],
          },
        },
        30,
      ),
    ).toEqual([
      { start: 0.2, end: 1.1, text: 'bonjour.' },
      { start: 1.5, end: 30, text: 'à demain' },
    ]);

    const engine = engineFromEnv({ TRANSCRIBE_ENGINE: 'workers-ai' } as unknown as NodeJS.ProcessEnv);
    expect(engine.name).toBe('workers-ai-whisper');
    expect(await engine.status()).toEqual({
      engine: 'workers-ai-whisper',
      model: '@cf/openai/whisper',
      available: false,
      detail: 'missing CF_ACCOUNT_ID or CF_AI_TOKEN',
    });
    const job = new Job(
      { jobId: 'ai', step: { op: 'transcribe', chunkSeconds: 30, parallel: 1 }, input: { kind: 'url', url: 'x' } },
      dir,
    );
    await expect(engine.transcribe(job, path.join(dir, 'speech.wav'), { timeoutMs: 1_000 })).rejects.toThrow(
      /CF_ACCOUNT_ID/,
    );
    expect(engineFromEnv({} as unknown as NodeJS.ProcessEnv).name).toBe('pocketsphinx');
    expect(await new PocketsphinxEngine().status()).toEqual({
      engine: 'pocketsphinx',
      model: 'cmusphinx-en-us',
      available: true,
    });
  });

  it('takes a language as a two-letter code and knows which engine can transcribe it', () => {
    expect(stepSchema.parse({ op: 'transcribe', language: 'EN' })).toMatchObject({ op: 'transcribe', language: 'en' });
    expect(stepSchema.safeParse({ op: 'transcribe', language: 'english' }).success).toBe(false);
    // no parallel given: the runner's engine picks it
    expect(stepSchema.parse({ op: 'transcribe' })).not.toHaveProperty('parallel');
    const sphinx = new PocketsphinxEngine();
    expect(languageRefusal(sphinx, undefined)).toBeNull();
    expect(languageRefusal(sphinx, 'en')).toBeNull();
    expect(languageRefusal(sphinx, 'de')).toMatch(/recognizes en only/);
    expect(languageRefusal({ name: 'whisper', languages: 'any' }, 'de')).toBeNull();
  });

  it('runs a CPU-bound engine one chunk per core, a remote one a few at a time', () => {
    expect(cpuParallel(2)).toBe(2);
    expect(cpuParallel(1)).toBe(1);
    expect(cpuParallel(64)).toBe(8);
    expect(new PocketsphinxEngine().defaultParallel).toBe(cpuParallel());
    expect(engineFromEnv({ TRANSCRIBE_ENGINE: 'workers-ai' } as unknown as NodeJS.ProcessEnv).defaultParallel).toBe(3);
  });
});
