/**
 * What an op handler gets: the job, the runner's settings, its validated step, the sniffed input, and
 * two ways to speak: progress (a 0-1 fraction of this op's own work) and finished output files.
 *
 * One handler per op lives next to this file; ops/index.ts maps op names to handlers.
 */
import type { Step } from '../../../../src/protocol/ops.ts';
import type { Stage } from '../../../../src/protocol/runner.ts';
import type { RunnerConfig } from '../config.ts';
import type { Job } from '../job.ts';
import type { MediaInfo } from '../media.ts';
import type { OutputCheck } from '../verify-output.ts';

export interface OpInput {
  path: string;
  /** extension of the input file, without the dot ('bin' when unknown) */
  ext: string;
  info: MediaInfo;
}

export interface OpContext<S extends Step = Step> {
  job: Job;
  config: RunnerConfig;
  step: S;
  input: OpInput;
  /** Extra input files by name (render's `image-0`..., `subtitles`), already on disk, not yet sniffed. */
  extras: ReadonlyMap<string, string>;
  /** Report this op's progress as a 0-1 fraction (mapped into the job's overall 0-100). */
  progress(stage: Stage, fraction: number, extra?: { message?: string; realtime?: number; eta?: number }): void;
  /**
   * Announce a finished output file under `name` (its size is checked against the output limit).
   * With `check`, a media output is first checked against what the op promised (output-check.ts):
   * a file that fails is never announced, and the job ends with the check's `media.*` code.
   */
  output(file: string, name: string, meta?: Record<string, unknown>, check?: OutputCheck): Promise<void>;
  /** Milliseconds left of the job's wall-clock limit. */
  timeLeftMs(): number;
}

export type OpHandler<S extends Step = Step> = (ctx: OpContext<S>) => Promise<void>;
