/**
 * Progress math: one 0-100 figure for the whole task from per-step progress, weighted by op cost.
 *
 * Pure; used by the task object for every progress event.
 */
import { OP_WEIGHT, type Op } from '../protocol/ops.ts';

/**
 * Overall progress given the ops, the index of the running step and that step's own 0-100 progress.
 * Steps before `stepIndex` count as complete.
 */
export function overallProgress(ops: readonly Op[], stepIndex: number, stepProgress: number): number {
  const weights = ops.map((op) => OP_WEIGHT[op]);
  const total = weights.reduce((a, b) => a + b, 0);
  if (total <= 0) return 0;
  let done = 0;
  for (let i = 0; i < Math.min(stepIndex, ops.length); i++) done += weights[i]!;
  const current = stepIndex < ops.length ? (weights[stepIndex]! * clamp(stepProgress, 0, 100)) / 100 : 0;
  return round1(((done + current) / total) * 100);
}

export function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Number.isFinite(n) ? n : lo));
}

export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
