/**
 * Words and numbers for people: task states, stages, sizes, speeds and durations.
 * Pure functions; the task card and the dashboard both use them.
 */
import type { Stage } from '../../src/protocol/runner.ts';
import type { TaskSnapshot, TaskStatus } from '../../src/protocol/task.ts';

export function formatBytes(n: number | undefined | null): string {
  if (n == null || !Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function formatDuration(seconds: number | undefined | null): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const BYTE_STAGES: ReadonlySet<Stage> = new Set(['downloading', 'receiving', 'storing']);

/**
 * Speed means bytes/s while bytes move (the event counts bytes, or the stage is a transfer) and
 * ffmpeg's speed factor (1.0 = realtime) while encoding.
 */
export function formatSpeed(stage: Stage | null, speed: number | undefined, countsBytes = false): string {
  if (speed == null || !Number.isFinite(speed) || speed <= 0) return '';
  if (countsBytes || (stage && BYTE_STAGES.has(stage))) return `${formatBytes(speed)}/s`;
  return `${speed < 10 ? speed.toFixed(1) : Math.round(speed)}× realtime`;
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
