// Reads a V8 .cpuprofile (CDP Profiler.stop's `profile`) and says where the thread's time went: self
// time by function, by source file of the bundle (esbuild's `// src/...` module comments name each
// line's file, so no source map is needed) and by bucket (SQLite, JSON, RPC, WebSocket send, ...).
// Pure: no I/O, so test/unit/cpu-profile-summary.test.ts covers it; scripts/profile-cpu.mjs prints it.

/** V8's pseudo-frames: time spent outside JavaScript, as the profiler names it. */
const IDLE = '(idle)';
const PROGRAM = '(program)';
const GC = '(garbage collector)';

/**
 * Buckets, matched against the leaf frame's function name, then up the stack (first rule that matches
 * the deepest frame wins). Native API calls (workerd's C++ behind a JS name) have an empty url.
 */
const BUCKETS = [
  { name: 'gc', test: (f) => f.functionName === GC },
  {
    name: 'sqlite exec',
    test: (f) =>
      !f.url && /^(exec|one|toArray|raw|next|columnNames|rowsRead|rowsWritten|transactionSync)$/.test(f.functionName),
  },
  {
    name: 'storage (kv/alarm)',
    test: (f) => !f.url && /^(getAlarm|setAlarm|deleteAlarm|get|put|delete|list|sync)$/.test(f.functionName),
  },
  { name: 'json', test: (f) => !f.url && /^(parse|stringify)$/.test(f.functionName) },
  {
    name: 'websocket send',
    test: (f) =>
      !f.url &&
      /^(send|serializeAttachment|deserializeAttachment|getWebSockets|acceptWebSocket|close)$/.test(f.functionName),
  },
  {
    name: 'fetch / streams',
    test: (f) =>
      !f.url &&
      /^(fetch|read|write|getReader|releaseLock|pipeTo|pipeThrough|enqueue|decode|encode|text|json|arrayBuffer|cancel)$/.test(
        f.functionName,
      ),
  },
  {
    name: 'crypto',
    test: (f) => !f.url && /^(digest|sign|verify|importKey|getRandomValues|randomUUID)$/.test(f.functionName),
  },
  {
    name: 'rpc / stubs',
    test: (f) => !f.url && /^(getByName|idFromName|get|idFromString|newUniqueId)$/.test(f.functionName),
  },
];

/** The bundle's module map: sorted [startLine, file] from esbuild's `// path/file.ts` lines (0-based). */
export function moduleMap(bundleText) {
  const out = [];
  const lines = bundleText.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\/\/ ((?:\.\.\/)*[\w@.\-/]+\.(?:ts|mts|js|mjs|cjs|json))$/.exec(lines[i]);
    if (m) out.push([i, m[1].replace(/^(\.\.\/)+/, '').replace(/^.*node_modules\//, 'node_modules/')]);
  }
  return out;
}

/** The file a 0-based bundle line belongs to (binary search over moduleMap's starts). */
export function fileOf(map, line) {
  let lo = 0;
  let hi = map.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (map[mid][0] <= line) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found < 0 ? '(bundle prelude)' : map[found][1];
}

function add(m, key, us) {
  m.set(key, (m.get(key) ?? 0) + us);
}

function sorted(m, totalUs, top) {
  return [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, us]) => ({ key, ms: Math.round(us / 100) / 10, pct: Math.round((1000 * us) / totalUs) / 10 }));
}

/**
 * Self time of a profile. `bundle` (the bundle's text) and `bundleUrl` (its callFrame.url, matched by
 * suffix) map frames to source files; without them files are the frames' urls.
 * Returns totals in ms and the top `top` rows of each table.
 */
export function summarize(profile, { bundle = '', bundleUrl = 'index.js', top = 25 } = {}) {
  const map = bundle ? moduleMap(bundle) : [];
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map();
  const { samples, timeDeltas } = profile;
  // timeDeltas[i] is the gap before sample i; the gap after a sample is the time it stands for
  for (let i = 0; i < samples.length; i++) {
    const us = timeDeltas[i + 1] ?? 0;
    if (us > 0) add(selfUs, samples[i], us);
  }
  const fileOfFrame = (f) => {
    if (!f.url) return f.functionName.startsWith('(') ? f.functionName : '(native)';
    if (map.length && f.url.endsWith(bundleUrl)) return fileOf(map, f.lineNumber);
    return f.url;
  };
  const bucketOf = (id) => {
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur).callFrame;
      for (const b of BUCKETS) if (b.test(f)) return b.name;
      if (f.url) break; // the first JS frame up the stack owns the rest
    }
    const f = byId.get(id).callFrame;
    if (f.functionName === IDLE) return 'idle';
    if (f.functionName === PROGRAM) return 'program (native, unattributed)';
    return f.url ? 'javascript' : 'other native';
  };
  const byFunction = new Map();
  const byFile = new Map();
  const byBucket = new Map();
  const byJsCaller = new Map();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id).callFrame;
    totalUs += us;
    if (f.functionName === IDLE) {
      idleUs += us;
      continue;
    }
    const file = fileOfFrame(f);
    add(byFunction, `${f.functionName || '(anonymous)'} ${file}${f.url ? `:${f.lineNumber + 1}` : ''}`, us);
    add(byFile, file, us);
    add(byBucket, bucketOf(id), us);
    // native time charged to the nearest JS function (who called exec, send, parse ...)
    if (!f.url) {
      let cur = parent.get(id);
      while (cur !== undefined && !byId.get(cur).callFrame.url) cur = parent.get(cur);
      if (cur !== undefined) {
        const c = byId.get(cur).callFrame;
        add(byJsCaller, `${f.functionName || '(native)'} <- ${c.functionName || '(anonymous)'} ${fileOfFrame(c)}`, us);
      }
    }
  }
  const busyUs = totalUs - idleUs;
  return {
    totalMs: Math.round(totalUs / 1000),
    idleMs: Math.round(idleUs / 1000),
    busyMs: Math.round(busyUs / 1000),
    buckets: sorted(byBucket, busyUs, 50),
    files: sorted(byFile, busyUs, top),
    functions: sorted(byFunction, busyUs, top),
    nativeCallers: sorted(byJsCaller, busyUs, top),
  };
}

/** Plain-text tables of summarize()'s result, `perTask` dividing ms by the task count. */
export function formatSummary(s, { label = '', tasks = 0 } = {}) {
  const per = (ms) => (tasks ? ` ${(ms / tasks).toFixed(2).padStart(7)} ms/task` : '');
  const table = (title, rows) =>
    [
      `  ${title}`,
      ...rows.map(
        (r) => `    ${r.ms.toFixed(1).padStart(9)} ms ${r.pct.toFixed(1).padStart(5)}%${per(r.ms)}  ${r.key}`,
      ),
    ].join('\n');
  return [
    `${label}: sampled ${s.totalMs} ms, busy ${s.busyMs} ms${per(s.busyMs)}, idle ${s.idleMs} ms`,
    table('by bucket (% of busy)', s.buckets),
    table('by source file', s.files),
    table('by function (self)', s.functions),
    table('native time by calling JS function', s.nativeCallers),
  ].join('\n');
}
