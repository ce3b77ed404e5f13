/**
 * The throughput chart: tasks that finished in each 5-minute slice of the last hour, done and failed
 * stacked, drawn as SVG from the task list (no chart library).
 */
import type { TaskEntry } from './dashboard.ts';

const SLICE_MS = 5 * 60_000;
const SLICES = 12;
const SVG = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export function renderThroughput(root: HTMLElement, tasks: readonly TaskEntry[], now = Date.now()): void {
  const start = now - SLICES * SLICE_MS;
  const done = new Array<number>(SLICES).fill(0);
  const failed = new Array<number>(SLICES).fill(0);
  for (const t of tasks) {
    if (t.updatedAt < start || (t.status !== 'succeeded' && t.status !== 'failed')) continue;
    const i = Math.min(SLICES - 1, Math.floor((t.updatedAt - start) / SLICE_MS));
    (t.status === 'succeeded' ? done : failed)[i]!++;
  }
  const max = Math.max(1, ...done.map((d, i) => d + failed[i]!));
  const [w, hgt, gap] = [24, 60, 4];
  const chart = svg('svg', {
    viewBox: `0 0 ${SLICES * (w + gap)} ${hgt + 14}`,
    role: 'img',
    'aria-label': `tasks finished per 5 minutes over the last hour: ${done.reduce((a, b) => a + b, 0)} done, ${failed.reduce((a, b) => a + b, 0)} failed`,
  });
  for (let i = 0; i < SLICES; i++) {
    const x = i * (w + gap);
    const hd = (done[i]! / max) * hgt;
    const hf = (failed[i]! / max) * hgt;
    const g = svg('g', {});
    const title = svg('title', {});
    const mins = (SLICES - i) * 5;
    title.textContent = `${mins}–${mins - 5} min ago: ${done[i]} done, ${failed[i]} failed`;
    g.append(title);
    g.append(svg('rect', { x, y: hgt - hd, width: w, height: hd, class: 'done' }));
    g.append(svg('rect', { x, y: hgt - hd - hf, width: w, height: hf, class: 'failed' }));
    g.append(svg('rect', { x, y: hgt, width: w, height: 1, class: 'axis' }));
    chart.append(g);
  }
  const label = svg('text', { x: 0, y: hgt + 12, class: 'chart-label' });
  label.textContent = '1 h ago';
  const labelNow = svg('text', {
    x: SLICES * (w + gap) - gap,
    y: hgt + 12,
    class: 'chart-label',
    'text-anchor': 'end',
  });
  labelNow.textContent = 'now';
  chart.append(label, labelNow);
  root.replaceChildren(chart);
}
