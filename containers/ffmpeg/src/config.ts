/**
 * The runner's settings, from its environment, with safe defaults. Read once at start by main.ts.
 */
import os from 'node:os';
import path from 'node:path';

export interface RunnerConfig {
  host: string;
  port: number;
  /** Where each job gets its own directory, removed when the job is deleted. */
  jobsDir: string;
  /** Hosts allowed despite resolving to private addresses (local testing only). */
  allowHosts: string[];
  /** Jobs that run at once; more wait in line inside the runner. */
  capacity: number;
  maxInputBytes: number;
  maxOutputBytes: number;
  /** Wall-clock limit of one job, download and ffmpeg included. */
  jobTimeoutMs: number;
  /** A finished job nobody deleted is forgotten after this. */
  finishedJobTtlMs: number;
  /** Grace between SIGTERM and SIGKILL when a job is canceled. */
  killGraceMs: number;
}

function num(raw: string | undefined, fallback: number): number {
  const n = Number(raw);
  return raw !== undefined && raw !== '' && Number.isFinite(n) && n > 0 ? n : fallback;
}

export function loadConfig(env: NodeJS.ProcessEnv): RunnerConfig {
  const port = num(env.PORT, 8080);
  return {
    host: env.HOST ?? '0.0.0.0',
    port,
    // Per port: the runner clears this directory when it starts, and several local runners (tests,
    // a second `npm start`) must not clear each other's jobs.
    jobsDir: env.JOBS_DIR ?? path.join(os.tmpdir(), `clipyard-jobs-${port}`),
    allowHosts: (env.CLIPYARD_ALLOW_HOSTS ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
    capacity: num(env.RUNNER_CAPACITY, Math.max(2, os.availableParallelism())),
    maxInputBytes: num(env.MAX_INPUT_BYTES, 2 * 1024 ** 3),
    maxOutputBytes: num(env.MAX_OUTPUT_BYTES, 2 * 1024 ** 3),
    jobTimeoutMs: num(env.JOB_TIMEOUT_MS, 2 * 60 * 60 * 1000),
    finishedJobTtlMs: num(env.FINISHED_JOB_TTL_MS, 60 * 60 * 1000),
    killGraceMs: num(env.KILL_GRACE_MS, 3_000),
  };
}
