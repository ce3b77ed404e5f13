// bench/chart.svg: grouped bars per system for create p99, progress p99 (log scale, ms) and
// throughput (tasks/s), drawn as plain SVG so it renders on GitHub and needs no dependency.
import { writeFileSync } from 'node:fs';

const COLORS = {
  clipyard: '#f38020',
  BullMQ: '#d0312d',
  'BullMQ (AOF)': '#8c1c19',
  Celery: '#37814a',
  'Celery (AOF)': '#1f4f2b',
};
const W = 980;
const PANEL_H = 250;

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

/** One panel: groups of bars (one bar per system); `log` draws a log10 axis. */
function panel(y0, title, unit, groups, systems, { log }) {
  const left = 70;
  const top = y0 + 40;
  const h = PANEL_H - 90;
  const width = W - left - 30;
  const values = groups.flatMap((g) => systems.map((s) => g.values[s])).filter((v) => v > 0);
  const max = Math.max(...values, 1);
  const min = log ? Math.max(0.1, Math.min(...values, max) / 2) : 0;
  const lo = log ? Math.floor(Math.log10(min)) : 0;
  const hi = log ? Math.ceil(Math.log10(max)) : max * 1.1;
  const scale = (v) => {
    if (!(v > 0)) return 0;
    return log ? ((Math.log10(v) - lo) / (hi - lo)) * h : (v / hi) * h;
  };
  const out = [`<text x="${left}" y="${y0 + 22}" font-size="15" font-weight="600">${esc(title)}</text>`];
  const ticks = log ? Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i)) : [0, hi / 2, hi];
  for (const t of ticks) {
    const y = top + h - scale(t || 1e-9);
    out.push(`<line x1="${left}" x2="${left + width}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(
      `<text x="${left - 6}" y="${y + 4}" font-size="11" text-anchor="end">${t >= 1 ? Math.round(t) : t} ${unit}</text>`,
    );
  }
  const gw = width / groups.length;
  const bw = Math.min(40, (gw - 20) / systems.length);
  groups.forEach((g, gi) => {
    const gx = left + gi * gw + (gw - bw * systems.length) / 2;
    systems.forEach((s, si) => {
      const v = g.values[s];
      const bh = scale(v);
      const x = gx + si * bw;
      out.push(
        `<rect x="${x}" y="${top + h - bh}" width="${bw - 3}" height="${bh}" fill="${COLORS[s] ?? '#888'}"><title>${esc(s)}: ${v?.toFixed?.(1) ?? '—'} ${unit}</title></rect>`,
      );
      if (v > 0) {
        const label = v >= 100 ? v.toFixed(0) : v.toFixed(1);
        out.push(
          `<text x="${x + (bw - 3) / 2}" y="${top + h - bh - 3}" font-size="10" text-anchor="middle">${label}</text>`,
        );
      }
    });
    out.push(
      `<text x="${left + gi * gw + gw / 2}" y="${top + h + 16}" font-size="12" text-anchor="middle">${esc(g.label)}</text>`,
    );
  });
  return out.join('\n');
}

export function writeChart(results, file) {
  const systems = results.systems.map((s) => s.name);
  const by = (fn) => Object.fromEntries(results.systems.map((s) => [s.name, fn(s)]));
  const createGroups = [1, 32].map((c) => ({
    label: `create p99, concurrency ${c}`,
    values: by((s) => s.create.find((r) => r.concurrency === c)?.p99),
  }));
  const subs = results.systems[0]?.progress.map((p) => p.subs) ?? [];
  const progressGroups = subs.map((n) => ({
    label: `progress p99, ${n} subscriber${n > 1 ? 's' : ''}`,
    values: by((s) => s.progress.find((r) => r.subs === n)?.p99),
  }));
  const counts = [...new Set(results.systems.flatMap((s) => s.scaling.map((r) => r.count)))];
  const tputGroups = counts.map((n) => ({
    label: `${n} tasks`,
    values: by((s) => s.scaling.find((r) => r.count === n && r.complete && !r.note)?.tasksPerSecond),
  }));
  const legend = systems
    .map(
      (s, i) =>
        `<rect x="${70 + i * 130}" y="12" width="14" height="14" fill="${COLORS[s] ?? '#888'}"/><text x="${90 + i * 130}" y="24" font-size="13">${esc(s)}</text>`,
    )
    .join('\n');
  const height = 40 + PANEL_H * 3;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="sans-serif" role="img" aria-labelledby="chart-title">
<title id="chart-title">clipyard against BullMQ and Celery: create latency, progress latency and throughput</title>
<rect width="100%" height="100%" fill="#fff"/>
${legend}
<text x="${W - 20}" y="24" font-size="11" text-anchor="end">${esc(results.date.slice(0, 16).replace('T', ' '))} UTC${results.quick ? ' (quick)' : ''}</text>
${panel(40, 'Create latency, POST to 202 (p99, ms, log scale; lower is better)', 'ms', createGroups, systems, { log: true })}
${panel(40 + PANEL_H, 'Progress latency, emit to receipt at 10 updates/s (p99, ms, log scale; lower is better)', 'ms', progressGroups, systems, { log: true })}
${panel(40 + PANEL_H * 2, 'Throughput of the synthetic job, 100 workers (tasks/s; higher is better)', '/s', tputGroups, systems, { log: false })}
</svg>
`;
  writeFileSync(file, svg);
}
