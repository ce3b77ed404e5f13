/**
 * Sizes and speeds in words, one spelling for the page, the CLI and anyone's code: sizes in
 * 1024-based steps spelled B, kB, MB, GB, TB; a transfer as "2.0 MB/s"; an encode as its realtime
 * factor. Pure.
 */
import type { LiveNumbers } from './task-state.ts';

const UNITS = ['kB', 'MB', 'GB', 'TB'] as const;

/** `1536` -> "1.5 kB"; '' for no number. */
export function formatBytes(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return '';
  if (n < 1024) return `${Math.round(n)} B`;
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${UNITS[i]}`;
}

/** "2.0 MB/s" while bytes move, "2.4x" while encoding (`suffix` follows the factor), '' when unknown. */
export function formatLiveSpeed(live: Pick<LiveNumbers, 'bytesPerSecond' | 'realtime'>, suffix = 'x'): string {
  const { bytesPerSecond: bps, realtime } = live;
  if (bps !== undefined && Number.isFinite(bps) && bps > 0) return `${formatBytes(bps)}/s`;
  if (realtime !== undefined && Number.isFinite(realtime) && realtime > 0) {
    return `${realtime < 10 ? realtime.toFixed(1) : Math.round(realtime)}${suffix}`;
  }
  return '';
}
