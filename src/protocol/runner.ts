/**
 * The runner protocol: what the task object and the media runner (containers/ffmpeg) say to each other.
 *
 *   POST   /jobs                      start a job (JSON JobSpec; or the input file as the body with the
 *                                     spec base64url-encoded in the `x-clipyard-job` header)
 *   GET    /jobs/:id/events?after=N   NDJSON stream of RunnerEvent lines; a heartbeat at least every 5 s;
 *                                     ends after the terminal `done` or `error` event
 *   GET    /jobs/:id/outputs/:name    an output file, with Content-Length and Content-Type
 *   DELETE /jobs/:id                  cancel: SIGTERM the process group, SIGKILL after a grace period,
 *                                     remove the job's files (also used to clean up after success)
 *   GET    /health                    RunnerHealth
 *
 * The object pulls; the runner never calls back. Sequence numbers here are per job and only used
 * for re-attaching (`after`); the task object numbers its own event log.
 *
 * Jobs with several inputs (render: slides, an audio track, subtitles). The spec's `input` is the main
 * one; `extraInputs` lists the others by a name the op knows (`image-0`, `image-1`, `subtitles`).
 * An extra input is either a URL, which the runner fetches itself through the same connect-time SSRF
 * checks as the main input, or a file in the request body. Body mode carries several files back to
 * back: first the main input (when it is `kind: 'body'`), then each `kind: 'body'` extra in the order
 * listed, each exactly `size` bytes (the sizes are required once there is more than one file), and
 * Content-Length is their sum. The object streams R2 objects (uploads, earlier outputs) into that one
 * body, so nothing needs the runner to reach R2 or the Worker to be reachable from the runner; the
 * same code works locally and in production.
 */
import type { ErrorCode } from './errors.ts';
import type { Step } from './ops.ts';

export const JOB_HEADER = 'x-clipyard-job';
export const HEARTBEAT_INTERVAL_MS = 5_000;
/** Every runner response carries its version here (what /api/health reports in container mode). */
export const RUNNER_VERSION_HEADER = 'x-clipyard-runner';

export type JobInput =
  /** The runner fetches the URL itself (with SSRF checks at connect time). */
  | { kind: 'url'; url: string }
  /** The input file is the body of POST /jobs; `filename` only hints the extension. */
  | { kind: 'body'; filename: string; size?: number };

export type ExtraInput =
  | { name: string; kind: 'url'; url: string }
  | { name: string; kind: 'body'; filename: string; size: number };

/** Names of extra inputs: safe as file names. */
export const EXTRA_INPUT_NAME = /^[a-z][a-z0-9-]{0,39}$/;
export const MAX_EXTRA_INPUTS = 110;

/** Per-job limits, each refused with its own code (see pipeline.ts in the runner). */
export interface JobLimits {
  /** job.timeout */
  timeoutMs?: number;
  /** source.too_large */
  maxInputBytes?: number;
  /** job.output_too_large */
  maxOutputBytes?: number;
  /** media.too_long */
  maxDurationSeconds?: number;
  /** media.resolution_too_high: the longest side of a video frame or image */
  maxVideoSidePx?: number;
}

export const JOB_LIMIT_KEYS = [
  'timeoutMs',
  'maxInputBytes',
  'maxOutputBytes',
  'maxDurationSeconds',
  'maxVideoSidePx',
] as const satisfies readonly (keyof JobLimits)[];

export interface JobSpec {
  jobId: string;
  step: Step;
  input: JobInput;
  extraInputs?: ExtraInput[];
  /** Optional per-job limits; the runner applies its own defaults when absent. */
  limits?: JobLimits;
}

/** Processing stages a progress event may name; the web page shows them as words. */
export const STAGES = [
  'queued',
  'starting',
  'downloading',
  'receiving',
  'probing',
  'extracting',
  'transcoding',
  'thumbnailing',
  'storing',
  'finishing',
  'transcribing',
  'rendering',
  'clipping',
  'analyzing',
] as const;
export type Stage = (typeof STAGES)[number];

export type RunnerEvent =
  | {
      seq: number;
      type: 'progress';
      stage: Stage;
      /** 0-100 for this job, never decreasing. */
      progress: number;
      message?: string;
      bytes?: number;
      totalBytes?: number;
      /** while bytes move (downloading, receiving, storing): bytes per second */
      bytesPerSecond?: number;
      /** while encoding: ffmpeg's speed factor, seconds of media per second (1.0 = realtime) */
      realtime?: number;
      /**
       * Older runners' single field: bytes/s in byte stages, the realtime factor otherwise. Read
       * through speedFields() (src/lib/speed.ts); new runners send the two fields above.
       */
      speed?: number;
      /** seconds left, when known */
      eta?: number;
      /**
       * When the runner emitted it (ms, the runner's clock). The object rate-limits progress by this,
       * not by arrival, so a burst that queued up while the object was busy is not coalesced away.
       */
      at?: number;
    }
  | { seq: number; type: 'log'; level: 'info' | 'warn'; message: string }
  | { seq: number; type: 'output'; name: string; size: number; contentType: string; meta?: Record<string, unknown> }
  | { seq: number; type: 'done' }
  | { seq: number; type: 'error'; code: ErrorCode; message: string; retryable: boolean }
  | { type: 'heartbeat'; at: number };

export type RunnerEventType = RunnerEvent['type'];

export interface RunnerHealth {
  ok: boolean;
  version: string;
  ffmpeg: string | null;
  ffprobe: string | null;
  ytDlp: string | null;
  activeJobs: number;
  capacity: number;
  /** The speech-to-text engine this runner uses for `transcribe`, its model, and whether it is installed. */
  transcriber?: { engine: string; model?: string; available: boolean; detail?: string };
}

/** Parse one NDJSON line from the runner; null on junk (never throws). */
export function parseRunnerEvent(line: string): RunnerEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  switch (v.type) {
    case 'heartbeat':
      return typeof v.at === 'number' ? (v as RunnerEvent) : null;
    case 'progress':
    case 'log':
    case 'output':
    case 'done':
    case 'error':
      return typeof v.seq === 'number' && Number.isInteger(v.seq) && v.seq > 0 ? (v as RunnerEvent) : null;
    default:
      return null;
  }
}

export function encodeJobHeader(spec: JobSpec): string {
  const bytes = new TextEncoder().encode(JSON.stringify(spec));
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function decodeJobHeader(value: string): unknown {
  const b64 = value.replaceAll('-', '+').replaceAll('_', '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}
