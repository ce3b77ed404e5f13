// Per-process and per-thread figures from /proc (Linux), for the profiling scripts: the process tree
// under a pid, each thread's CPU time and each process's RSS.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

function stat(file) {
  try {
    const text = readFileSync(file, 'utf8');
    const name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
    return { name, f: text.slice(text.lastIndexOf(')') + 2).split(' ') };
  } catch {
    return null;
  }
}

/** `pid` and every process under it: [{ pid, ppid, comm }]. */
export function processTree(pid) {
  const all = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = stat(`/proc/${d}/stat`);
    if (s) all.push({ pid: Number(d), ppid: Number(s.f[1]), comm: s.name });
  }
  const out = all.filter((p) => p.pid === pid);
  for (let i = 0; i < out.length; i++) out.push(...all.filter((p) => p.ppid === out[i].pid));
  return out;
}

/** CPU ms (user + system) of a process, all threads. */
export function processCpuMs(pid) {
  const s = stat(`/proc/${pid}/stat`);
  return s ? ((Number(s.f[11]) + Number(s.f[12])) * 1_000) / TICKS_PER_SECOND : 0;
}

/** CPU ms of the children `pid` has waited for (cutime + cstime): short-lived helpers such as `sync -f`. */
export function reapedChildrenCpuMs(pid) {
  const s = stat(`/proc/${pid}/stat`);
  return s ? ((Number(s.f[13]) + Number(s.f[14])) * 1_000) / TICKS_PER_SECOND : 0;
}

/** CPU ms of each thread of `pid`: { [tid]: { name, ms } }. */
export function threadCpu(pid) {
  const out = {};
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    const s = stat(`/proc/${pid}/task/${tid}/stat`);
    if (s) out[tid] = { name: s.name, ms: ((Number(s.f[11]) + Number(s.f[12])) * 1_000) / TICKS_PER_SECOND };
  }
  return out;
}

/** Resident set size of `pid` in bytes (0 once it is gone). */
export function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
