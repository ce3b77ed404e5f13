// Types for cpu-profile-summary.mjs (the summary of a V8 .cpuprofile that scripts/profile-cpu.mjs prints).
export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
export interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime?: number;
  endTime?: number;
}
export interface Row {
  key: string;
  ms: number;
  pct: number;
}
export interface Summary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  buckets: Row[];
  files: Row[];
  functions: Row[];
  nativeCallers: Row[];
}
export function moduleMap(bundleText: string): [number, string][];
export function fileOf(map: [number, string][], line: number): string;
export function summarize(
  profile: CpuProfile,
  options?: { bundle?: string; bundleUrl?: string; top?: number },
): Summary;
export function formatSummary(s: Summary, options?: { label?: string; tasks?: number }): string;
