// Small numeric helpers for the bench: percentiles, summaries and formatting.

/** Nearest-rank percentile of an unsorted array (p in 0..100); null for an empty array. */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function summary(values) {
  return {
    n: values.length,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: values.length ? Math.max(...values) : null,
  };
}

export function fmtMs(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (v >= 10_000) return `${(v / 1000).toFixed(1)} s`;
  if (v >= 100) return `${v.toFixed(0)} ms`;
  if (v >= 10) return `${v.toFixed(1)} ms`;
  return `${v.toFixed(2)} ms`;
}

export function fmtMb(bytes) {
  if (bytes === null || bytes === undefined) return '—';
  return `${(bytes / 1024 / 1024).toFixed(0)} MB`;
}

/** clipyard / peer as "0.42x"; "—" when either side is missing. */
export function ratio(a, b) {
  if (a === null || b === null || a === undefined || b === undefined || b === 0) return '—';
  return `${(a / b).toFixed(2)}x`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Wall clock in ms with sub-ms precision, comparable across processes on this machine. */
export const nowMs = () => performance.timeOrigin + performance.now();

/** Run `fn(i)` for i in [0, n) with at most `limit` in flight; resolves to the results in order. */
export async function pool(n, limit, fn) {
  const out = new Array(n);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, n) }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  });
  await Promise.all(workers);
  return out;
}
