/**
 * `transcribe`: the input's speech as text with timings. Extract 16 kHz mono audio, find silences,
 * split into chunks of about `chunkSeconds` cut on silence, transcribe `parallel` chunks at a time
 * (a failed chunk is retried alone), merge with each chunk's offset, and write transcript.txt, .srt,
 * .vtt and .json (or the `formats` asked for).
 *
 * Progress: extraction and silence detection take the first 10% of the step; the rest is completed
 * chunks over total chunks, reported as each chunk finishes.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mergeChunks, toJson, toSrt, toTxt, toVtt } from '../../../../src/lib/transcript.ts';
import { type Step, TRANSCRIPT_FORMATS } from '../../../../src/protocol/ops.ts';
import { JobError } from '../job.ts';
import { detectSilences, extractSpeechAudio, planChunks } from '../transcribe/chunking.ts';
import { engineFromEnv, languageRefusal, type TranscriptionEngine } from '../transcribe/engine.ts';
import { transcribeChunks } from '../transcribe/run-chunks.ts';
import type { OpHandler } from './op-context.ts';

const PREPARE_SHARE = 0.1;

/** The handler with a given engine (tests pass their own; the runner uses its configured one). */
export function transcribeWith(engine: TranscriptionEngine): OpHandler<Extract<Step, { op: 'transcribe' }>> {
  return async (ctx) => {
    const { info } = ctx.input;
    if (!info.hasAudio) throw new JobError('media.no_audio', 'the input has no audio to transcribe');
    const { language } = ctx.step;
    const refusal = languageRefusal(engine, language);
    if (refusal) throw new JobError('transcribe.language_unsupported', refusal);
    ctx.progress('extracting', 0, { message: 'extracting the speech audio' });
    const wav = await extractSpeechAudio(ctx.job, ctx.input.path, info.duration, ctx.timeLeftMs(), (f) =>
      ctx.progress('extracting', f * PREPARE_SHARE * 0.7, { message: 'extracting the speech audio' }),
    );
    const duration = info.duration ?? 0;
    if (duration <= 0) throw new JobError('media.unsupported', 'the audio has no known duration');
    ctx.progress('transcribing', PREPARE_SHARE * 0.7, { message: 'looking for pauses to cut at' });
    const silences = await detectSilences(ctx.job, wav, ctx.timeLeftMs());
    const chunks = planChunks(duration, silences, ctx.step.chunkSeconds);
    const parallel = Math.min(ctx.step.parallel ?? engine.defaultParallel, chunks.length);
    ctx.progress('transcribing', PREPARE_SHARE, {
      message: `transcribing ${chunks.length} chunk${chunks.length === 1 ? '' : 's'}, ${parallel} at a time (${engine.name})`,
    });
    const started = Date.now();
    const transcripts = await transcribeChunks({
      job: ctx.job,
      engine,
      wav,
      chunks,
      parallel,
      language,
      timeLeftMs: ctx.timeLeftMs,
      onChunkDone: (done, total) => {
        const elapsed = (Date.now() - started) / 1000;
        const eta = Math.round((elapsed / done) * (total - done));
        ctx.progress('transcribing', PREPARE_SHARE + (1 - PREPARE_SHARE) * (done / total), {
          message: `transcribed ${done} of ${total} chunks`,
          eta,
        });
      },
      onRetry: (chunk, error, nextTry) =>
        ctx.job.log('warn', `chunk ${chunk.index + 1} failed (${error.message}); retrying it alone (try ${nextTry})`),
    });
    const segments = mergeChunks(transcripts);
    const writers = {
      txt: () => toTxt(segments),
      srt: () => toSrt(segments),
      vtt: () => toVtt(segments),
      json: () =>
        toJson(segments, {
          engine: engine.name,
          model: engine.model,
          language: language ?? (engine.languages === 'any' ? null : engine.languages[0]),
          duration,
          chunks: chunks.length,
        }),
    };
    for (const format of TRANSCRIPT_FORMATS) {
      if (ctx.step.formats && !ctx.step.formats.includes(format)) continue;
      const name = `transcript.${format}`;
      const file = path.join(ctx.job.dir, `out-${name}`);
      await writeFile(file, writers[format]());
      await ctx.output(file, name, {
        segments: segments.length,
        chunks: chunks.length,
        engine: engine.name,
        model: engine.model,
      });
    }
  };
}

export const transcribe = transcribeWith(engineFromEnv(process.env));
