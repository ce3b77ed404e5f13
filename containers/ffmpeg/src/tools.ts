/**
 * Spawning the media tools (ffmpeg, ffprobe, yt-dlp): argument arrays only, never a shell; each child
 * leads its own process group so cancel can stop it and everything it started; every run is tied to
 * the job's abort signal and a wall-clock limit.
 *
 * Used by the op pipeline; `toolVersions` feeds GET /health.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type Job, JobError, killGroup } from './job.ts';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  /** Called with each complete stdout line as it arrives. */
  onLine?: (line: string) => void;
  /** Keep stdout in the result (off for chatty progress output). */
  captureStdout?: boolean;
  timeoutMs: number;
}

/** Keep only the tail of stderr: enough for an error message, bounded in memory. */
const STDERR_TAIL_BYTES = 16_384;
const KILL_GRACE_MS = 2_000;

/**
 * Run one tool for a job. Rejects with JobError('job.canceled') when the job is canceled and
 * JobError('job.timeout') past the time limit; otherwise resolves with the exit status.
 */
export function runTool(job: Job, command: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (job.signal.aborted) {
      reject(new JobError('job.canceled', 'canceled'));
      return;
    }
    if (!existsSync(opts.cwd)) {
      // spawn would report a missing working directory as a missing command
      reject(new JobError('runner.crashed', "the job's working directory vanished", true));
      return;
    }
    const child = spawn(command, args, {
      cwd: opts.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      // A clean environment: nothing of the runner's configuration leaks into the tools. (The cast:
      // `wrangler types` widens NodeJS.ProcessEnv with the Worker's vars, which a child never needs.)
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: opts.cwd,
        LANG: 'C.UTF-8',
      } as unknown as NodeJS.ProcessEnv,
    });
    job.processes.add(child);
    let stdout = '';
    let stderr = '';
    let partial = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (opts.captureStdout) stdout += chunk;
      if (!opts.onLine) return;
      partial += chunk;
      let nl = partial.indexOf('\n');
      while (nl >= 0) {
        opts.onLine(partial.slice(0, nl).replace(/\r$/, ''));
        partial = partial.slice(nl + 1);
        nl = partial.indexOf('\n');
      }
    });
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES);
    });
    const stopChild = () => {
      killGroup(child, 'SIGTERM');
      setTimeout(() => killGroup(child, 'SIGKILL'), KILL_GRACE_MS).unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stopChild();
    }, opts.timeoutMs);
    job.signal.addEventListener('abort', stopChild, { once: true });
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      job.processes.delete(child);
      reject(
        err.code === 'ENOENT'
          ? new JobError('internal', `${command} is not installed on the media runner`)
          : new JobError('runner.crashed', `could not start ${command}: ${err.message}`, true),
      );
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      job.signal.removeEventListener('abort', stopChild);
      job.processes.delete(child);
      if (partial && opts.onLine) opts.onLine(partial);
      if (job.signal.aborted) reject(new JobError('job.canceled', 'canceled'));
      else if (timedOut) reject(new JobError('job.timeout', `${command} ran past the job's time limit`));
      else resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The last meaningful line of a tool's stderr, for error messages. */
export function lastLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines.at(-1) ?? '').slice(0, 300);
}

function version(command: string, args: string[], pick: (out: string) => string | null): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 5_000 }, (err, stdout) => resolve(err ? null : pick(String(stdout))));
  });
}

export interface ToolVersions {
  ffmpeg: string | null;
  ffprobe: string | null;
  ytDlp: string | null;
}

/** Versions of the installed tools (null when missing); looked up once at start. */
export async function toolVersions(): Promise<ToolVersions> {
  const ffVersion = (out: string) => /version (\S+)/.exec(out)?.[1] ?? null;
  const [ffmpeg, ffprobe, ytDlp] = await Promise.all([
    version('ffmpeg', ['-hide_banner', '-version'], ffVersion),
    version('ffprobe', ['-hide_banner', '-version'], ffVersion),
    version('yt-dlp', ['--version'], (out) => out.trim() || null),
  ]);
  return { ffmpeg, ffprobe, ytDlp };
}
