/**
 * A progress event's speed, as two named numbers: `bytesPerSecond` while bytes move (downloading,
 * receiving, storing) and `realtime` (ffmpeg's speed factor, 1.0 = realtime) while encoding. Runners
 * send the two fields; an older runner's single `speed` is read by its stage. Pure; used by the task
 * object's progress copy (src/objects/task-driver.ts).
 */
import type { RunnerEvent, Stage } from '../protocol/runner.ts';

/** Stages in which a runner's speed counts bytes. */
export const BYTE_STAGES: ReadonlySet<Stage> = new Set<Stage>(['downloading', 'receiving', 'storing']);

type RunnerProgress = Pick<
  Extract<RunnerEvent, { type: 'progress' }>,
  'stage' | 'bytesPerSecond' | 'realtime' | 'speed'
>;

export function speedFields(e: RunnerProgress): { bytesPerSecond?: number; realtime?: number } {
  const out: { bytesPerSecond?: number; realtime?: number } = {};
  const ok = (n: number | undefined): n is number => n !== undefined && Number.isFinite(n) && n >= 0;
  if (ok(e.bytesPerSecond)) out.bytesPerSecond = e.bytesPerSecond;
  if (ok(e.realtime)) out.realtime = e.realtime;
  if (ok(e.speed) && out.bytesPerSecond === undefined && out.realtime === undefined) {
    if (BYTE_STAGES.has(e.stage)) out.bytesPerSecond = e.speed;
    else out.realtime = e.speed;
  }
  return out;
}
