/**
 * Retry policy: capped exponential backoff and the classifier that says which failures are worth
 * another attempt.
 *
 * Pure; the task object asks it after every failed attempt.
 */
import type { ErrorBody, ErrorCode } from '../protocol/errors.ts';

export const DEFAULT_RETRY_DELAYS_MS = [2_000, 5_000, 10_000] as const;

/** Codes that are always worth retrying, whatever the producer said. */
const ALWAYS_RETRYABLE: readonly ErrorCode[] = [
  'source.rate_limited',
  'source.server_error',
  'source.unreachable',
  'source.timeout',
  'runner.unreachable',
  'runner.crashed',
  'runner.job_lost',
  'runner.stalled',
  'runner.busy',
  'storage.failed',
];

/** Codes that are never worth retrying: the same input would fail the same way. */
const NEVER_RETRYABLE: readonly ErrorCode[] = [
  'source.not_found',
  'source.forbidden',
  'source.http_error',
  'source.too_large',
  'source.too_many_redirects',
  'media.unsupported',
  'media.corrupt',
  'media.format_unavailable',
  'media.no_audio',
  'media.no_video',
  'media.too_long',
  'media.resolution_too_high',
  'media.unsafe_reference',
  'job.canceled',
  'job.output_too_large',
  // the job's wall-clock limit: the same work would run out of time again
  'job.timeout',
  'input.missing',
  'input.invalid',
  'input.url.private',
  'input.url.scheme',
  'input.url.invalid',
  'input.url.credentials',
];

/** Codes the policy decides whatever the producer said (the others follow their `retryable`). */
export const CLASSIFIED_CODES: readonly ErrorCode[] = [...ALWAYS_RETRYABLE, ...NEVER_RETRYABLE];

/**
 * Is this failed attempt worth another one? Transient trouble (network, timeouts reaching the source,
 * 429, 5xx, a runner that crashed, stalled, was stopped or forgot the job) is; what the same input
 * would repeat (400/401/403/404 from the source, unsupported or corrupt media, a yt-dlp format that
 * is not available, limits) is not. Codes in neither list follow the producer's own `retryable`.
 */
export function isRetryable(error: Pick<ErrorBody, 'code' | 'retryable'>): boolean {
  if (ALWAYS_RETRYABLE.includes(error.code)) return true;
  if (NEVER_RETRYABLE.includes(error.code)) return false;
  // Every `media.*` code is about the input itself: the same bytes fail the same way again.
  if (error.code.startsWith('media.')) return false;
  return error.retryable;
}

/**
 * Delay before attempt `nextAttempt` (2 for the first retry). Past the end of the list the last
 * delay repeats.
 */
export function backoffDelayMs(nextAttempt: number, delays: readonly number[] = DEFAULT_RETRY_DELAYS_MS): number {
  if (delays.length === 0) return 0;
  const i = Math.max(0, Math.min(nextAttempt - 2, delays.length - 1));
  return delays[i]!;
}

/** Parse "2000,5000,10000" from configuration; falls back to the defaults on junk. */
export function parseDelays(raw: string | undefined): number[] {
  if (!raw) return [...DEFAULT_RETRY_DELAYS_MS];
  const parts = raw.split(',').map((s) => Number(s.trim()));
  if (parts.length === 0 || parts.some((n) => !Number.isFinite(n) || n < 0)) return [...DEFAULT_RETRY_DELAYS_MS];
  return parts;
}
