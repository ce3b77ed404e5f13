/**
 * Words and numbers for people: task states, stages, sizes, speeds and durations.
 * Pure functions; the task card and the dashboard both use them.
 */
import type { LiveNumbers } from '../../src/client/task-state.ts';
import { formatBytes, formatLiveSpeed } from '../../src/client/units.ts';
import type { TaskSnapshot, TaskStatus } from '../../src/protocol/task.ts';

/** Sizes are spelled the same everywhere (kB, MB): the page, the CLI, the client. */
export { formatBytes };

export function formatDuration(seconds: number | undefined | null): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** bytes/s while bytes move, ffmpeg's factor ("2.4× realtime") while encoding: two named fields. */
export function formatSpeed(live: LiveNumbers): string {
  return formatLiveSpeed(live, '× realtime');
}

export function formatAgo(at: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(at).toLocaleDateString();
}

/** The state of a task in plain words, as the issue asks: "retrying in 4 s", "waiting for a runner". */
export function stateWords(t: Pick<TaskSnapshot, 'status' | 'stage' | 'progress' | 'nextRetryAt'>, now = Date.now()) {
  switch (t.status) {
    case 'queued':
      return 'queued';
    case 'running':
      return t.stage === 'starting' || t.stage === 'queued' || t.stage === null ? 'waiting for a runner' : 'running';
    case 'retrying': {
      if (!t.nextRetryAt) return 'retrying';
      const s = Math.max(0, Math.ceil((t.nextRetryAt - now) / 1000));
      return s > 0 ? `retrying in ${s} s` : 'retrying now';
    }
    case 'succeeded':
      return 'done';
    case 'failed':
      return 'failed';
    case 'canceled':
      return 'canceled';
  }
}

export const STATUS_LABELS: Record<TaskStatus, string> = {
  queued: 'queued',
  running: 'running',
  retrying: 'retrying',
  succeeded: 'done',
  failed: 'failed',
  canceled: 'canceled',
};

/** A short name for a task's input: the file name of a URL, or the upload/chained task. */
export function sourceName(input: TaskSnapshot['input'] | string, label?: string | null): string {
  if (label) return label;
  if (typeof input === 'string') return shortUrl(input);
  if ('url' in input) return shortUrl(input.url);
  if ('upload' in input) return `upload ${input.upload.slice(0, 8)}`;
  return `${input.output} of task ${input.task.slice(0, 8)}`;
}

function shortUrl(url: string): string {
  try {
    const u = new URL(url);
    const last = decodeURIComponent(u.pathname.split('/').filter(Boolean).pop() ?? '');
    // A short query often tells links apart (?v=..., ?part=2); a long one is noise.
    const query = u.search.length > 1 && u.search.length <= 32 ? u.search : '';
    return last ? `${last}${query} · ${u.host}` : `${u.host}${query}`;
  } catch {
    return url;
  }
}
