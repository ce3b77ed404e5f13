/**
 * When a webhook delivery is tried again, and what an answer means.
 *
 * At least once: an attempt that did not get a 2xx is tried again after the next delay of the
 * schedule, until the attempts run out; a 410 Gone means the receiver wants no more. The default
 * schedule spreads 8 attempts over a little more than a day (5 s ... 10 h), so a receiver that is down
 * overnight still gets the event. Pure; the outbox (src/objects/webhook-outbox.ts) asks it.
 */

/** Waits before attempts 2, 3, ... (the first attempt goes at once): 8 attempts over ~27 h. */
export const DEFAULT_WEBHOOK_DELAYS_MS = [
  5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
] as const;
/** An attempt that has not answered within this long counts as failed. */
export const WEBHOOK_TIMEOUT_MS = 10_000;

export type AttemptVerdict = 'delivered' | 'gone' | 'retry';

/** What one answer (or no answer: status null) means for the delivery. */
export function verdictOf(status: number | null): AttemptVerdict {
  if (status !== null && status >= 200 && status < 300) return 'delivered';
  if (status === 410) return 'gone';
  return 'retry';
}

/**
 * When the next attempt goes, after `attemptsMade` attempts that each ended in 'retry', or null when
 * the schedule is used up (`delays.length + 1` attempts in all).
 */
export function nextAttemptAt(attemptsMade: number, lastAt: number, delays: readonly number[]): number | null {
  const delay = delays[attemptsMade - 1];
  return delay === undefined ? null : lastAt + delay;
}

/** Parse `WEBHOOK_RETRY_DELAYS_MS` ("5000,300000,..."); the default on anything unusable. */
export function parseWebhookDelays(raw: string | undefined): number[] {
  if (!raw) return [...DEFAULT_WEBHOOK_DELAYS_MS];
  const parts = raw.split(',').map((p) => Number(p.trim()));
  if (parts.length === 0 || parts.some((n) => !Number.isFinite(n) || n < 0)) return [...DEFAULT_WEBHOOK_DELAYS_MS];
  return parts;
}
