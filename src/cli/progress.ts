/**
 * How the CLI shows a task's progress: on a terminal, one bar redrawn in place with the stage, speed
 * and ETA; anywhere else (a pipe, a log file, CI), plain lines only when something changed.
 *
 * Pure apart from the `write` function it is given, so tests drive it with a fake clock.
 */
import type { TaskProgress } from '../client/task-state.ts';
import { formatBytes, formatLiveSpeed } from '../client/units.ts';

export { formatBytes };

/** Stages in which bytes move: the byte counts are worth showing. */
const BYTE_STAGES = new Set(['downloading', 'receiving', 'storing']);
const REDRAW_MS = 100;
/** Columns the bar leaves for the details after it. */
const DETAILS_ROOM = 48;
/** Plain mode: a line at least every this many percent, or when the stage or status changes. */
const PLAIN_STEP_PERCENT = 10;

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** The speed in words: bytes/s while downloading, the realtime factor ("2.4x") while encoding. */
export function formatSpeed(p: Pick<TaskProgress, 'bytesPerSecond' | 'realtime'>): string {
  return formatLiveSpeed(p);
}

/** Guesses the seconds left from how fast overall progress has moved since the attempt started. */
export class EtaEstimator {
  private start: { at: number; progress: number; attempt: number } | null = null;

  estimate(p: TaskProgress, now: number): number | undefined {
    if (p.status !== 'running') {
      this.start = null;
      return undefined;
    }
    if (!this.start || this.start.attempt !== p.attempt || p.progress < this.start.progress) {
      this.start = { at: now, progress: p.progress, attempt: p.attempt };
      return undefined;
    }
    const elapsed = (now - this.start.at) / 1000;
    const gained = p.progress - this.start.progress;
    if (elapsed < 1 || gained <= 0.5) return undefined;
    return ((100 - p.progress) * elapsed) / gained;
  }
}

/** The words after the bar: stage or status, speed, ETA. */
export function progressDetails(p: TaskProgress, eta: number | undefined): string {
  const parts: string[] = [];
  if (p.status === 'running') {
    parts.push(p.stage ?? 'starting');
    if (p.steps > 1) parts.push(`step ${p.step + 1}/${p.steps}`);
    const speed = formatSpeed(p);
    if (speed) parts.push(speed);
    if (p.totalBytes && p.bytes !== undefined && p.stage && BYTE_STAGES.has(p.stage)) {
      parts.push(`${formatBytes(p.bytes)}/${formatBytes(p.totalBytes)}`);
    }
    const left = p.eta ?? eta;
    if (left !== undefined) parts.push(`ETA ${formatDuration(left)}`);
  } else if (p.status === 'retrying') {
    parts.push(p.message || 'retrying');
  } else {
    parts.push(p.status === 'queued' ? p.message || 'queued' : p.status);
  }
  return parts.join(' · ');
}

/** One terminal line: `label ▕█████░░░░░▏  52% extracting · 24x · ETA 0:03`, fitted to `columns`. */
export function barLine(label: string, p: TaskProgress, eta: number | undefined, columns: number): string {
  const pct = `${Math.floor(p.progress).toString().padStart(3)}%`;
  const details = progressDetails(p, eta);
  // The bar keeps one width while the details change length, leaving them room for stage, speed and ETA.
  const width = Math.max(10, Math.min(30, columns - label.length - pct.length - DETAILS_ROOM));
  const filled = Math.round((Math.min(100, Math.max(0, p.progress)) / 100) * width);
  const line = `${label} ▕${'█'.repeat(filled)}${'░'.repeat(width - filled)}▏ ${pct} ${details}`;
  return line.length > columns - 1 ? `${line.slice(0, Math.max(0, columns - 2))}…` : line;
}

export interface ProgressViewOptions {
  write: (text: string) => void;
  /** redraw a bar in place (a terminal) or print plain lines */
  tty: boolean;
  columns?: () => number;
  now?: () => number;
  label: string;
}

/** Turns a stream of TaskProgress into terminal output. */
export class ProgressView {
  private readonly opts: ProgressViewOptions;
  private readonly eta = new EtaEstimator();
  private lastDraw = 0;
  private pending: TaskProgress | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private barShown = false;
  private lastPlain: { status: string; stage: string | null; progress: number; message: string } | null = null;

  constructor(opts: ProgressViewOptions) {
    this.opts = opts;
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  update(p: TaskProgress): void {
    if (!this.opts.tty) {
      this.plain(p);
      return;
    }
    this.pending = p;
    const wait = this.lastDraw + REDRAW_MS - this.now();
    if (wait <= 0 || p.status !== 'running') this.draw();
    else this.timer ??= setTimeout(() => this.draw(), wait);
  }

  /** Print a line of its own (above the bar on a terminal). */
  note(text: string): void {
    if (this.opts.tty && this.barShown) this.opts.write(`\r\x1b[K${text}\n`);
    else this.opts.write(`${text}\n`);
    if (this.opts.tty && this.barShown && this.pending) this.draw();
  }

  /** Leave the bar as its last state and move to a new line. */
  finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.opts.tty && this.pending) this.draw();
    if (this.opts.tty && this.barShown) this.opts.write('\n');
    this.barShown = false;
  }

  private draw(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const p = this.pending;
    if (!p) return;
    const now = this.now();
    this.lastDraw = now;
    const columns = this.opts.columns?.() || 80;
    this.opts.write(`\r\x1b[K${barLine(this.opts.label, p, this.eta.estimate(p, now), columns)}`);
    this.barShown = true;
  }

  private plain(p: TaskProgress): void {
    const last = this.lastPlain;
    const changed =
      !last ||
      last.status !== p.status ||
      last.stage !== p.stage ||
      (p.status !== 'running' && last.message !== p.message) ||
      Math.floor(p.progress / PLAIN_STEP_PERCENT) > Math.floor(last.progress / PLAIN_STEP_PERCENT);
    const eta = this.eta.estimate(p, this.now());
    if (!changed) return;
    this.lastPlain = { status: p.status, stage: p.stage, progress: p.progress, message: p.message };
    this.opts.write(`[${Math.floor(p.progress).toString().padStart(3)}%] ${progressDetails(p, eta)}\n`);
  }
}
