// Memory of the processes a system needs: a sampler of resident set size over a process tree,
// read from /proc (Linux only), so each scenario reports the peak RSS of every process involved.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

/**
 * utime + stime of one process and cutime + cstime of its children that ended and were waited for,
 * in seconds; 0 when it is gone. A short-lived child (the local engine's `sync -f` once a second)
 * ends between two samples: its CPU is then in its parent's cutime/cstime, and counted there.
 */
function cpuSeconds(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / TICKS;
  } catch {
    return 0;
  }
}

/** CPU seconds used so far by each root's tree (live processes only), keyed by label. */
export function cpuByRoot(roots) {
  const out = {};
  for (const { label, pid } of roots) {
    out[label] = pid ? tree(pid).reduce((sum, p) => sum + cpuSeconds(p), 0) : 0;
  }
  return out;
}

/** CPU seconds used so far by each live process of the trees, keyed "label: name" like sampleRss. */
export function cpuByProcess(roots) {
  const out = {};
  for (const { label, pid } of roots) {
    if (!pid) continue;
    for (const p of tree(pid)) {
      const key = `${label}: ${status(p)?.name ?? '?'}`;
      out[key] = (out[key] ?? 0) + cpuSeconds(p);
    }
  }
  return out;
}

function status(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+) kB/.exec(text);
    const name = /Name:\s+(.+)/.exec(text);
    const ppid = /PPid:\s+(\d+)/.exec(text);
    return { rss: rss ? Number(rss[1]) * 1024 : 0, name: name?.[1] ?? '?', ppid: Number(ppid?.[1] ?? 0) };
  } catch {
    return null;
  }
}

/** Every live descendant of `root` (root included). */
export function tree(root) {
  const parents = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = status(entry);
    if (s) parents.set(Number(entry), s.ppid);
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === out[i]) out.push(pid);
  }
  return out;
}

/**
 * Sample RSS of the trees under the given roots every `everyMs`; `stop()` returns the peak per process
 * (keyed "label/name") and the peak of the sum.
 */
export function sampleRss(roots, everyMs = 200) {
  const peaks = new Map();
  let peakTotal = 0;
  const take = () => {
    let total = 0;
    for (const { label, pid } of roots) {
      if (!pid) continue;
      for (const p of tree(pid)) {
        const s = status(p);
        if (!s) continue;
        total += s.rss;
        const key = `${label}: ${s.name}`;
        const prev = peaks.get(key) ?? 0;
        // Several processes with one name (e.g. prefork children): keep the largest of them.
        if (s.rss > prev) peaks.set(key, s.rss);
      }
    }
    peakTotal = Math.max(peakTotal, total);
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { perProcess: Object.fromEntries(peaks), peakTotal };
    },
  };
}
