/**
 * The run timeline in a task's snapshot: per attempt, when it was waiting (queued, or a retry's
 * backoff), ran and ended; per step, when it started and ended; and the stages each step went
 * through (download, probe, encode, upload to storage, ...) with their times. All times in ms;
 * `endedAt` null while still open. The web page draws it as bars (web/src/timeline.ts).
 */

export interface TimelineSpan {
  name: string;
  startedAt: number;
  endedAt: number | null;
}

export interface TimelineStep {
  index: number;
  op: string;
  startedAt: number;
  endedAt: number | null;
  /** succeeded, failed, canceled, retrying (the attempt failed in it), or null while running */
  outcome: string | null;
  stages: TimelineSpan[];
}

export interface TimelineAttempt {
  attempt: number;
  /** waiting before it ran: `queued` (for a slot) or `retrying` (a backoff) */
  waits: TimelineSpan[];
  startedAt: number | null;
  endedAt: number | null;
  outcome: string | null;
  steps: TimelineStep[];
}
