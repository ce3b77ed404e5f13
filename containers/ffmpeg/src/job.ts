/**
 * One runner job: its working directory, its numbered event log, its subscribers and the processes
 * it spawned. The task object re-attaches with `after=<seq>` and gets exactly what it missed.
 *
 * Used by the HTTP server (server.ts) and the op pipeline (pipeline.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import type { ErrorCode } from '../../../src/protocol/errors.ts';
import type { JobSpec, RunnerEvent, Stage } from '../../../src/protocol/runner.ts';

type Sequenced = Exclude<RunnerEvent, { type: 'heartbeat' }>;
type Unsequenced = Sequenced extends infer E ? (E extends Sequenced ? Omit<E, 'seq'> : never) : never;
type Listener = (event: Sequenced) => void;

/** A failure with a stable code; thrown anywhere inside a job, turned into its `error` event. */
export class JobError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, retryable = false) {
    super(message);
    this.name = 'JobError';
    this.code = code;
    this.retryable = retryable;
  }
}

export interface OutputFile {
  name: string;
  path: string;
  size: number;
  contentType: string;
}

/** Progress events closer together than this are merged (the last value always goes out). */
const PROGRESS_MIN_INTERVAL_MS = 100;
/** Keep at most this many progress events in memory; older ones are dropped (re-attach sees the newest). */
const MAX_PROGRESS_EVENTS = 2_000;

export class Job {
  readonly id: string;
  readonly spec: JobSpec;
  readonly dir: string;
  readonly createdAt = Date.now();
  readonly controller = new AbortController();
  readonly outputs = new Map<string, OutputFile>();
  readonly processes = new Set<ChildProcess>();
  finishedAt: number | null = null;
  private events: Sequenced[] = [];
  private seq = 0;
  private progressCount = 0;
  private progress = 0;
  private lastProgressAt = 0;
  private pendingProgress: Omit<Extract<Sequenced, { type: 'progress' }>, 'seq'> | null = null;
  private pendingTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly listeners = new Set<Listener>();

  constructor(spec: JobSpec, dir: string) {
    this.id = spec.jobId;
    this.spec = spec;
    this.dir = dir;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get ended(): boolean {
    return this.finishedAt !== null;
  }

  /** Events with seq > after, in order. */
  eventsAfter(after: number): Sequenced[] {
    return this.events.filter((e) => e.seq > after);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private push(event: Unsequenced): Sequenced {
    const e = { ...event, seq: ++this.seq } as Sequenced;
    this.events.push(e);
    if (e.type === 'progress' && ++this.progressCount > MAX_PROGRESS_EVENTS) {
      const i = this.events.findIndex((x) => x.type === 'progress');
      this.events.splice(i, 1);
      this.progressCount--;
    }
    for (const l of this.listeners) l(e);
    return e;
  }

  /**
   * Report progress (0-100 for this job; never goes backwards). Rate-limited: leading edge, then at
   * most one event per interval, and the latest value is always delivered.
   */
  reportProgress(p: {
    stage: Stage;
    progress: number;
    message?: string;
    bytes?: number;
    totalBytes?: number;
    /** while bytes move (downloading) */
    bytesPerSecond?: number;
    /** while encoding: ffmpeg's speed factor (1.0 = realtime) */
    realtime?: number;
    eta?: number;
  }): void {
    if (this.ended) return;
    this.progress = Math.max(this.progress, Math.min(100, Math.max(0, round1(p.progress))));
    const event = { type: 'progress' as const, ...p, progress: this.progress, at: Date.now() };
    // The last value of each stage is never merged away (a fast download still shows its bytes).
    if (this.pendingProgress && this.pendingProgress.stage !== p.stage) this.flushProgress();
    const now = Date.now();
    if (now - this.lastProgressAt >= PROGRESS_MIN_INTERVAL_MS && !this.pendingTimer) {
      this.lastProgressAt = now;
      this.push(event);
      return;
    }
    this.pendingProgress = event;
    if (!this.pendingTimer) {
      this.pendingTimer = setTimeout(
        () => this.flushProgress(),
        PROGRESS_MIN_INTERVAL_MS - (now - this.lastProgressAt),
      );
    }
  }

  private flushProgress(): void {
    if (this.pendingTimer) clearTimeout(this.pendingTimer);
    this.pendingTimer = null;
    if (!this.pendingProgress) return;
    const e = this.pendingProgress;
    this.pendingProgress = null;
    this.lastProgressAt = Date.now();
    this.push(e);
  }

  log(level: 'info' | 'warn', message: string): void {
    if (this.ended) return;
    this.flushProgress();
    this.push({ type: 'log', level, message });
  }

  addOutput(file: OutputFile, meta?: Record<string, unknown>): void {
    this.flushProgress();
    this.outputs.set(file.name, file);
    this.push({
      type: 'output',
      name: file.name,
      size: file.size,
      contentType: file.contentType,
      ...(meta ? { meta } : {}),
    });
  }

  succeed(): void {
    if (this.ended) return;
    this.flushProgress();
    this.finishedAt = Date.now();
    this.push({ type: 'done' });
  }

  fail(error: JobError): void {
    if (this.ended) return;
    this.flushProgress();
    this.pendingProgress = null;
    this.finishedAt = Date.now();
    this.push({ type: 'error', code: error.code, message: error.message, retryable: error.retryable });
  }

  /**
   * Stop everything the job started: SIGTERM each process group, SIGKILL whatever is left after
   * `graceMs`, then remove the job's files. Resolves once the processes are gone.
   */
  async stop(graceMs: number, reason = new JobError('job.canceled', 'canceled')): Promise<void> {
    this.fail(reason);
    this.controller.abort();
    const alive = [...this.processes].filter((p) => p.exitCode === null && p.signalCode === null);
    await Promise.all(
      alive.map(
        (p) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              killGroup(p, 'SIGKILL');
              resolve();
            }, graceMs);
            p.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            killGroup(p, 'SIGTERM');
          }),
      ),
    );
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Signal a child's whole process group (children are spawned detached, as group leaders). */
export function killGroup(p: ChildProcess, signal: NodeJS.Signals): void {
  if (p.pid === undefined) return;
  try {
    process.kill(-p.pid, signal);
  } catch {
    try {
      p.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
