/**
 * Daily quotas: the UTC day a usage counter belongs to, and how long until it resets.
 *
 * Pure; used by TenantObject (which keeps the counters) and the Worker (which answers 429 with
 * Retry-After when a tenant has used its day).
 */

export const DAY_MS = 86_400_000;

/** The UTC day of `nowMs` as YYYY-MM-DD: the key of that day's usage row. */
export function dayKey(nowMs: number): string {
  return new Date(nowMs).toISOString().slice(0, 10);
}

/** Whole seconds until the next UTC midnight, when the daily counters start again (at least 1). */
export function secondsUntilReset(nowMs: number): number {
  const next = (Math.floor(nowMs / DAY_MS) + 1) * DAY_MS;
  return Math.max(1, Math.ceil((next - nowMs) / 1000));
}

export interface DailyLimits {
  /** Tasks a tenant may create per UTC day; 0 means no limit. */
  tasksPerDay: number;
  /** Output bytes a tenant's tasks may store per UTC day; 0 means no limit. */
  outputBytesPerDay: number;
}

export interface DailyUsage {
  day: string;
  tasks: number;
  outputBytes: number;
}

export type Admission =
  /** `counted`: this call counted the task (false when the id was admitted before). */
  | { ok: true; counted: boolean }
  | { ok: false; code: 'quota.tasks' | 'quota.output_bytes'; message: string; retryAfterSeconds: number };

/**
 * May `count` more tasks start today, given today's usage? All of them or none (a batch is admitted
 * whole); one task by default.
 */
export function admit(usage: DailyUsage, limits: DailyLimits, nowMs: number, count = 1): Admission {
  const retryAfterSeconds = secondsUntilReset(nowMs);
  if (limits.tasksPerDay > 0 && usage.tasks + count > limits.tasksPerDay) {
    return {
      ok: false,
      code: 'quota.tasks',
      message:
        usage.tasks >= limits.tasksPerDay
          ? `the daily quota of ${limits.tasksPerDay} tasks is used up; it resets at 00:00 UTC`
          : `the daily quota of ${limits.tasksPerDay} tasks has room for ${limits.tasksPerDay - usage.tasks} more, not ${count}; it resets at 00:00 UTC`,
      retryAfterSeconds,
    };
  }
  if (limits.outputBytesPerDay > 0 && usage.outputBytes >= limits.outputBytesPerDay) {
    return {
      ok: false,
      code: 'quota.output_bytes',
      message: `the daily quota of ${limits.outputBytesPerDay} output bytes is used up; it resets at 00:00 UTC`,
      retryAfterSeconds,
    };
  }
  return { ok: true, counted: true };
}
