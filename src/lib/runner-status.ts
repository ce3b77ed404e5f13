/**
 * What /api/health says about the media runner in container mode, where asking a container would
 * start one: the facts recorded as tasks used runners (last contact, the version the runner reported,
 * recent failures), judged here. Pure; src/objects/runner.ts records the facts, routes/health.ts reads.
 *
 * Verdict: a runner failure newer than the last contact, within FAILING_WINDOW_MS, is "failing"
 * (ok: false); contact within STALE_AFTER_MS is "ok"; older contact is "idle" and no contact at all
 * is "unknown", both ok (nothing has gone wrong, and nothing is asked).
 */

export const FAILING_WINDOW_MS = 15 * 60_000;
export const STALE_AFTER_MS = 24 * 60 * 60_000;
/** Failures older than this are not reported. */
export const RECENT_FAILURES_MS = 60 * 60_000;

export interface RunnerContact {
  at: number;
  /** The runner's version (its x-clipyard-runner header), when it sent one. */
  version: string | null;
}

export interface RunnerFailure {
  at: number;
  code: string;
  message: string;
}

export type RunnerState = 'ok' | 'idle' | 'unknown' | 'failing';

export interface RunnerStatusReport {
  ok: boolean;
  state: RunnerState;
  /** Never asked in container mode: the report is what was last seen. */
  reachable: null;
  lastContactAt: string | null;
  version: string | null;
  recentFailures: { at: string; code: string; message: string }[];
}

/** Judge the recorded facts at `now`. Failures may come in any order; only recent ones are kept. */
export function runnerStatus(
  contact: RunnerContact | null,
  failures: readonly RunnerFailure[],
  now: number,
): RunnerStatusReport {
  const recent = failures.filter((f) => now - f.at <= RECENT_FAILURES_MS).sort((a, b) => b.at - a.at);
  const latestFailure = recent[0];
  let state: RunnerState;
  if (latestFailure && now - latestFailure.at <= FAILING_WINDOW_MS && (!contact || latestFailure.at > contact.at)) {
    state = 'failing';
  } else if (!contact) state = 'unknown';
  else state = now - contact.at <= STALE_AFTER_MS ? 'ok' : 'idle';
  return {
    ok: state !== 'failing',
    state,
    reachable: null,
    lastContactAt: contact ? new Date(contact.at).toISOString() : null,
    version: contact?.version ?? null,
    recentFailures: recent
      .slice(0, 10)
      .map((f) => ({ at: new Date(f.at).toISOString(), code: f.code, message: f.message })),
  };
}

/** R2 keys: one object for the last contact, one per failure (newest first when listed). */
export const CONTACT_KEY = 'health/runner/contact.json';
export const FAILURE_PREFIX = 'health/runner/failures/';
const KEY_CLOCK_MAX = 10 ** 13;

export function failureKey(at: number, salt: string): string {
  return `${FAILURE_PREFIX}${String(KEY_CLOCK_MAX - at).padStart(13, '0')}-${salt}`;
}

/** Parse a stored record; null on junk. */
export function parseContact(text: string | null): RunnerContact | null {
  try {
    const v = JSON.parse(text ?? '') as Partial<RunnerContact>;
    return typeof v.at === 'number' ? { at: v.at, version: typeof v.version === 'string' ? v.version : null } : null;
  } catch {
    return null;
  }
}

export function parseFailure(text: string | null): RunnerFailure | null {
  try {
    const v = JSON.parse(text ?? '') as Partial<RunnerFailure>;
    return typeof v.at === 'number' && typeof v.code === 'string'
      ? { at: v.at, code: v.code, message: String(v.message ?? '').slice(0, 300) }
      : null;
  } catch {
    return null;
  }
}
