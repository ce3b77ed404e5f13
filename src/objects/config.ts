/**
 * Numbers and lists from the Worker's vars, with safe defaults; the task settings parsed once per
 * env object (taskConfig), the rest per use.
 */
import type { DailyLimits } from '../lib/quota.ts';
import type { R2Credentials } from '../lib/r2-presign.ts';
import { parseDelays } from '../lib/retry-policy.ts';
import { parseWebhookDelays } from '../lib/webhook-schedule.ts';

export interface TaskConfig {
  stallTimeoutMs: number;
  retryDelaysMs: number[];
  maxAttempts: number;
  linkTtlSeconds: number;
  outputTtlMs: number;
  allowHosts: string[];
  maxConcurrentTasks: number;
}

function num(raw: string | undefined, fallback: number, min = 0): number {
  const n = Number(raw);
  return raw !== undefined && raw !== '' && Number.isFinite(n) && n >= min ? n : fallback;
}

/** The vars taskConfig reads, as one string: the cache below is good while it is the same. */
function taskVars(env: Env): string {
  return [
    env.STALL_TIMEOUT_MS,
    env.RETRY_DELAYS_MS,
    env.MAX_ATTEMPTS,
    env.LINK_TTL_SECONDS,
    env.OUTPUT_TTL_SECONDS,
    env.CLIPYARD_ALLOW_HOSTS,
    env.MAX_CONCURRENT_TASKS,
  ].join('\n');
}

/** taskConfig per env object (a task object reads it on every lifecycle move and alarm). */
const parsed = new WeakMap<Env, { vars: string; config: Readonly<TaskConfig> }>();

/**
 * The task settings from the Worker's vars, parsed once per env object and its values (tests swap
 * a var on the same object: the cache then parses again). The answer is shared: do not change it.
 */
export function taskConfig(env: Env): Readonly<TaskConfig> {
  const vars = taskVars(env);
  const hit = parsed.get(env);
  if (hit && hit.vars === vars) return hit.config;
  const config = Object.freeze(parseTaskConfig(env));
  parsed.set(env, { vars, config });
  return config;
}

function parseTaskConfig(env: Env): TaskConfig {
  return {
    stallTimeoutMs: num(env.STALL_TIMEOUT_MS, 30_000, 500),
    retryDelaysMs: parseDelays(env.RETRY_DELAYS_MS),
    maxAttempts: num(env.MAX_ATTEMPTS, 4, 1),
    linkTtlSeconds: num(env.LINK_TTL_SECONDS, 3_600, 1),
    outputTtlMs: num(env.OUTPUT_TTL_SECONDS, 86_400, 1) * 1_000,
    allowHosts: allowHosts(env),
    maxConcurrentTasks: num(env.MAX_CONCURRENT_TASKS, 4, 1),
  };
}

export function allowHosts(env: Env): string[] {
  return (env.CLIPYARD_ALLOW_HOSTS ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
}

/** The current link secret first, then the one being rotated out (if any). */
export function linkSecrets(env: Env): string[] {
  return [env.LINK_SECRET, env.LINK_SECRET_PREVIOUS].filter((s): s is string => typeof s === 'string' && s.length > 0);
}

/** R2 S3 API credentials for presigned output links, when all four are configured; else null. */
export function r2Credentials(env: Env): R2Credentials | null {
  const creds: R2Credentials = {
    accountId: env.R2_ACCOUNT_ID ?? '',
    bucket: env.R2_BUCKET_NAME ?? '',
    accessKeyId: env.R2_ACCESS_KEY_ID ?? '',
    secretAccessKey: env.R2_SECRET_ACCESS_KEY ?? '',
  };
  return Object.values(creds).every((v) => v.length > 0) ? creds : null;
}

/** Daily quotas per tenant (0 = no limit). */
export function dailyLimits(env: Env): DailyLimits {
  return {
    tasksPerDay: num(env.MAX_TASKS_PER_DAY, 10_000),
    outputBytesPerDay: num(env.MAX_OUTPUT_BYTES_PER_DAY, 20 * 1024 ** 3),
  };
}

/**
 * Media limits per task. The runner enforces them (each with its own error code); the Worker sends
 * them with every job so one configuration governs both, and checks output sizes again itself.
 */
export interface MediaLimits {
  /** Largest input, downloaded or uploaded (source.too_large / upload.too_large). */
  maxInputBytes: number;
  /** Largest single output (job.output_too_large). */
  maxOutputBytes: number;
  /** Longest input media, in seconds (media.too_long). */
  maxDurationSeconds: number;
  /** Longest side of a video frame or image, in pixels (media.resolution_too_high). */
  maxVideoSidePx: number;
  /** Wall-clock limit of one job, download and ffmpeg included (job.timeout). */
  timeoutMs: number;
}

export function mediaLimits(env: Env): MediaLimits {
  return {
    maxInputBytes: num(env.MAX_INPUT_BYTES, 2 * 1024 ** 3, 1),
    maxOutputBytes: num(env.MAX_OUTPUT_BYTES, 2 * 1024 ** 3, 1),
    maxDurationSeconds: num(env.MAX_DURATION_SECONDS, 4 * 3_600, 1),
    maxVideoSidePx: num(env.MAX_VIDEO_SIDE_PX, 4_096, 16),
    timeoutMs: num(env.JOB_TIMEOUT_MS, 2 * 3_600_000, 1_000),
  };
}

/** WebSocket subscriber limits: allowed page origins (empty = any) and the idle timeout. */
export function socketConfig(env: Env): { allowedOrigins: string[]; idleTimeoutMs: number } {
  return {
    allowedOrigins: (env.ALLOWED_ORIGINS ?? '')
      .split(',')
      .map((o) => o.trim().toLowerCase().replace(/\/+$/, ''))
      .filter(Boolean),
    idleTimeoutMs: num(env.WS_IDLE_TIMEOUT_MS, 300_000, 1_000),
  };
}

/** Largest upload accepted, in bytes (single request or multipart total). */
export function maxUploadBytes(env: Env): number {
  return num(env.MAX_UPLOAD_BYTES, 100 * 1024 * 1024, 1);
}

/** Webhook delivery: the retry schedule, each attempt's timeout and a rotated secret's overlap. */
export function webhookConfig(env: Env): { delaysMs: number[]; timeoutMs: number; secretOverlapMs: number } {
  return {
    delaysMs: parseWebhookDelays(env.WEBHOOK_RETRY_DELAYS_MS),
    timeoutMs: num(env.WEBHOOK_TIMEOUT_MS, 10_000, 100),
    secretOverlapMs: num(env.WEBHOOK_SECRET_OVERLAP_SECONDS, 86_400, 0) * 1_000,
  };
}

/** Entries a playlist becomes when its request names no limit. */
export function playlistDefaultLimit(env: Env): number {
  return Math.min(100, Math.floor(num(env.PLAYLIST_DEFAULT_LIMIT, 50, 1)));
}
