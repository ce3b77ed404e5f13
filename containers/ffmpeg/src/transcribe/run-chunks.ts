/**
 * Transcribing planned chunks in parallel: at most `parallel` at once, each cut from the speech audio
 * and handed to the engine; a chunk that fails is retried on its own (the others keep their results),
 * and each finished chunk is reported at once so progress is completed chunks over total chunks.
 *
 * Used by the `transcribe` op.
 */
import { rm } from 'node:fs/promises';
import type { ChunkTranscript } from '../../../../src/lib/transcript.ts';
import { type Job, JobError } from '../job.ts';
import { type Chunk, cutChunk } from './chunking.ts';
import type { TranscriptionEngine } from './engine.ts';

export interface ChunkRunOptions {
  job: Job;
  engine: TranscriptionEngine;
  /** the whole speech audio (16 kHz mono wav) */
  wav: string;
  chunks: readonly Chunk[];
  parallel: number;
  /** ISO 639-1 code handed to the engine; absent: the engine detects it */
  language?: string;
  /** tries per chunk, the first included */
  maxTries?: number;
  timeLeftMs(): number;
  onChunkDone(done: number, total: number, chunk: Chunk): void;
  onRetry?(chunk: Chunk, error: JobError, nextTry: number): void;
}

/** Per-chunk time limit: generous for the chunk's length, never past the job's own limit. */
function chunkTimeoutMs(chunk: Chunk, left: number): number {
  return Math.min(left, 60_000 + (chunk.end - chunk.start) * 10_000);
}

function asJobError(err: unknown): JobError {
  if (err instanceof JobError) return err;
  return new JobError('runner.crashed', `transcription failed: ${String(err)}`, true);
}

/** Run every chunk; resolves with one transcript per chunk, in chunk order. Throws the first chunk that gives up. */
export async function transcribeChunks(o: ChunkRunOptions): Promise<ChunkTranscript[]> {
  const maxTries = o.maxTries ?? 3;
  const results: ChunkTranscript[] = new Array(o.chunks.length);
  let next = 0;
  let done = 0;
  let failure: JobError | null = null;

  const runOne = async (chunk: Chunk): Promise<ChunkTranscript> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const file = await cutChunk(o.job, o.wav, chunk, chunkTimeoutMs(chunk, o.timeLeftMs()));
        const segments = await o.engine.transcribe(o.job, file, {
          timeoutMs: chunkTimeoutMs(chunk, o.timeLeftMs()),
          ...(o.language ? { language: o.language } : {}),
        });
        await rm(file, { force: true });
        return { offset: chunk.start, duration: chunk.end - chunk.start, segments };
      } catch (err) {
        const e = asJobError(err);
        if (o.job.signal.aborted || !e.retryable || attempt >= maxTries) {
          throw new JobError(e.code, `chunk ${chunk.index + 1} of ${o.chunks.length}: ${e.message}`, e.retryable);
        }
        o.onRetry?.(chunk, e, attempt + 1);
      }
    }
  };

  const worker = async () => {
    while (failure === null && next < o.chunks.length) {
      const chunk = o.chunks[next++]!;
      try {
        results[chunk.index] = await runOne(chunk);
      } catch (err) {
        failure ??= asJobError(err);
        return;
      }
      done++;
      o.onChunkDone(done, o.chunks.length, chunk);
    }
  };

  const width = Math.max(1, Math.min(o.parallel, o.chunks.length));
  await Promise.all(Array.from({ length: width }, worker));
  if (failure) throw failure;
  return results;
}
