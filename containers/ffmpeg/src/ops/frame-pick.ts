/**
 * Choosing a representative frame for `thumbnail` with `time: "auto"`: ffmpeg samples frames and
 * prints each one's luma and saturation statistics (signalstats); a pure scorer prefers frames with
 * a wide tonal range and some colour, and never picks a black, blank or washed-out one when any other
 * frame exists.
 */
import { frameStatsArgs } from '../ffmpeg-args.ts';
import { ffmpegError } from '../media.ts';
import { runTool } from '../tools.ts';
import type { OpContext } from './op-context.ts';

export interface FrameStats {
  time: number;
  yavg: number;
  ylow: number;
  yhigh: number;
  satavg: number;
}

/** Parse the metadata filter's print-out (a `frame:` line, then `lavfi.signalstats.KEY=value` lines). Pure. */
export function parseFrameStats(lines: readonly string[]): FrameStats[] {
  const out: FrameStats[] = [];
  let cur: FrameStats | null = null;
  for (const line of lines) {
    const head = /pts_time:\s*(-?[\d.]+)/.exec(line);
    if (head) {
      if (cur) out.push(cur);
      cur = { time: Number(head[1]), yavg: 0, ylow: 0, yhigh: 0, satavg: 0 };
      continue;
    }
    const kv = /^lavfi\.signalstats\.(YAVG|YLOW|YHIGH|SATAVG)=([\d.]+)/.exec(line.trim());
    if (cur && kv) cur[kv[1]!.toLowerCase() as 'yavg' | 'ylow' | 'yhigh' | 'satavg'] = Number(kv[2]);
  }
  if (cur) out.push(cur);
  return out.filter((f) => Number.isFinite(f.time) && f.time >= 0);
}

/** True for frames a person would call black, blank or washed out. */
export function isDull(f: FrameStats): boolean {
  return f.yavg < 28 || f.yavg > 235 || f.yhigh - f.ylow < 24;
}

/** The time of the most representative frame, or null when there were no frames. Pure. */
export function chooseFrame(frames: readonly FrameStats[]): number | null {
  if (frames.length === 0) return null;
  const score = (f: FrameStats) => f.yhigh - f.ylow + 0.5 * f.satavg - 0.2 * Math.abs(f.yavg - 128);
  const lively = frames.filter((f) => !isDull(f));
  const pool = lively.length > 0 ? lively : frames;
  let best = pool[0]!;
  for (const f of pool) if (score(f) > score(best)) best = f;
  return best.time;
}

/** Sample the input's frames and return the chosen time (seconds). */
export async function pickFrame(ctx: OpContext): Promise<number> {
  const lines: string[] = [];
  const r = await runTool(ctx.job, 'ffmpeg', frameStatsArgs(ctx.input.path, ctx.input.info.duration), {
    cwd: ctx.job.dir,
    timeoutMs: Math.min(ctx.timeLeftMs(), 10 * 60_000),
    onLine: (line) => {
      if (lines.length < 20_000) lines.push(line);
    },
  });
  if (r.code !== 0) throw ffmpegError(r.stderr, r.signal);
  return chooseFrame(parseFrameStats(lines)) ?? 0;
}
