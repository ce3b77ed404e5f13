// One engine over the bench corpus, in a process of its own so the bench can sample this process
// tree's memory apart from everything else: the runner's own path (silences found, chunks planned on
// them, `parallel` chunks at a time through the engine, merged), one recording after the other.
//
// argv[2]: JSON {engine: "pocketsphinx" | "workers-ai", files: string[], parallel, chunkSeconds}.
// Prints one JSON line per recording: {file, text, seconds}; exits non-zero on a failure.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Job } from '../../containers/ffmpeg/src/job.ts';
import { detectSilences, planChunks } from '../../containers/ffmpeg/src/transcribe/chunking.ts';
import { engineFromEnv } from '../../containers/ffmpeg/src/transcribe/engine.ts';
import { transcribeChunks } from '../../containers/ffmpeg/src/transcribe/run-chunks.ts';
import { mergeChunks } from '../../src/lib/transcript.ts';
import type { JobSpec } from '../../src/protocol/runner.ts';

interface Args {
  engine: string;
  files: string[];
  parallel: number;
  chunkSeconds: number;
}

const HOUR_MS = 3_600_000;
/** USER_HZ on Linux */
const CLOCK_TICKS = 100;
const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const engine = engineFromEnv({ ...process.env, TRANSCRIBE_ENGINE: args.engine });

for (const file of args.files) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-stt-bench-'));
  const spec = { jobId: 'bench', step: { op: 'transcribe' }, input: { kind: 'url', url: 'file:' } } as JobSpec;
  const job = new Job(spec, dir);
  const started = performance.now();
  try {
    const silences = await detectSilences(job, file, HOUR_MS);
    const duration = Number(
      execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], {
        encoding: 'utf8',
      }).trim(),
    );
    const chunks = planChunks(duration, silences, args.chunkSeconds);
    const results = await transcribeChunks({
      job,
      engine,
      wav: file,
      chunks,
      parallel: args.parallel,
      timeLeftMs: () => HOUR_MS,
      onChunkDone: () => {},
    });
    const text = mergeChunks(results)
      .map((s) => s.text)
      .join(' ');
    process.stdout.write(`${JSON.stringify({ file, text, seconds: (performance.now() - started) / 1000 })}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU seconds of this process and every child it waited for (the engine's processes), from /proc. */
function treeCpuSeconds(): number | null {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime, cutime, cstime: fields 14-17 of stat(5), here 11-14 after the command name
    return [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i]), 0) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
process.stdout.write(`${JSON.stringify({ cpuSeconds: treeCpuSeconds() })}\n`);
