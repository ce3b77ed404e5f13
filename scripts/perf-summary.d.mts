// Types for perf-summary.mjs (workerd's `perf script` samples sorted into buckets).
export const PERF_BUCKETS: [string, RegExp, { leaf?: boolean; near?: boolean }?][];
export interface PerfSample {
  thread: string;
  frames: string[];
}
export function parsePerfScript(text: string): PerfSample[];
export function summarizePerf(samples: PerfSample[]): {
  samples: number;
  buckets: { key: string; n: number; pct: number }[];
  threads: { key: string; n: number; pct: number }[];
};
