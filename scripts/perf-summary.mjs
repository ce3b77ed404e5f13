// Reads `perf script` text of workerd (perf record -g) and sorts its on-CPU samples into buckets by
// what is on the stack: fsync, SQLite statement compile / commit / execution, file creation, page
// faults, GC, JS, network, ... The JS profile (cpu-profile-summary.mjs) cannot see the kernel nor tell
// a thread blocked in fsync from one running JS; this can. Pure: covered by
// test/unit/perf-summary.test.ts, run by scripts/profile-cpu.mjs --perf.

/**
 * First bucket (in this order) whose pattern matches a frame of a sample's stack: any frame, or with
 * `leaf` the leaf frame only, or with `near` a frame below the innermost JS frame (the native work of one
 * API call, not a whole RPC callee running under it).
 */
export const PERF_BUCKETS = [
  ['v8 profiler itself', /v8::sampler::|SamplingEventsProcessor|ProfilerListener|CpuProfiler/],
  ['fsync (kernel)', /\bdo_fsync\b|__x64_sys_fdatasync|__x64_sys_fsync/],
  ['file create/open/unlink (kernel)', /__x64_sys_openat|__x64_sys_unlink|__x64_sys_ftruncate|__x64_sys_fallocate/],
  ['pwrite/pread (kernel)', /__x64_sys_pwrite64|__x64_sys_pread64/],
  ['sqlite: statement compile', /sqlite3_prepare|sqlite3RunParser|sqlite3LockAndPrepare/],
  ['sqlite: commit', /sqlite3PagerCommitPhase|sqlite3WalFrames|sqlite3VdbeHalt/],
  ['sqlite: open/schema', /sqlite3_open|openDatabase|sqlite3InitOne|sqlite3Init\b/],
  ['sqlite: execute', /sqlite3_step|sqlite3VdbeExec|sqlite3_/],
  ['workerd SQL API (cursors, bindings, statement cache)', /SqliteDatabase::|api::SqlStorage|ActorSqlite/],
  ['object start (actor constructor, storage open)', /Worker::Actor::Actor|ensureConstructed|ActorContainer|makeActor/],
  ['gc', /Heap::CollectGarbage|Scavenge|MarkCompact|cppgc::|IncrementalMarking|ConcurrentMarking|MinorMS/],
  ['page faults (kernel)', /asm_exc_page_fault/],
  [
    'network syscalls',
    /__x64_sys_(sendto|sendmsg|recvfrom|recvmsg|writev|readv|write|read|accept4|connect|shutdown|close)\b/,
  ],
  [
    'waiting / scheduling',
    /__x64_sys_(epoll_wait|epoll_pwait|futex|nanosleep|clock_nanosleep|poll|ppoll)\b|finish_task_switch/,
  ],
  ['json (V8)', /JsonStringifier|JsonParser|JsonStringify|JsonParse/, { near: true }],
  [
    'rpc (JS RPC calls, structured clone)',
    /ValueSerializer|ValueDeserializer|jsg::Serializer|jsg::Deserializer|JsRpc|serializeJsValue/,
    { near: true },
  ],
  ['websocket', /api::WebSocket::|HibernationManager|kj::WebSocket|WebSocketImpl/, { near: true }],
  [
    'http / streams',
    /kj::HttpServer|HttpInputStream|HttpOutputStream|HttpClient|api::ReadableStream|api::WritableStream|api::Request::|api::Response::|api::Headers::/,
    { near: true },
  ],
  ['malloc', /^(tcmalloc|TCMalloc|__libc_malloc|malloc|free|operator new|operator delete)/, { leaf: true }],
  [
    'javascript: V8 executing (leaf in V8 or JIT code)',
    /^(Builtins_|v8::|\[unknown\]|[0-9a-f]+$)|\[JIT\]/,
    { leaf: true },
  ],
  ['workerd/kj native (APIs, event loop, RPC)', /workerd::|kj::|kj_rs/],
];

/** A frame of JS code: V8's builtins and interpreter, or JIT code perf cannot name. */
const JS_FRAME = /^(Builtins_|\[unknown\])/;

/** Samples of `perf script` text: [{ thread, frames: [symbol (dso)] }], leaf first. */
export function parsePerfScript(text) {
  const out = [];
  let cur = null;
  for (const line of text.split('\n')) {
    if (!line.trim()) {
      if (cur) out.push(cur);
      cur = null;
      continue;
    }
    if (!/^\s/.test(line)) {
      // "workerd 15213/15213 12345.678: 1001001 cpu-clock:ppp:" or "workerd 15213 12345.678: ..."
      const m = /^(.+?)\s+(\d+)(?:\/(\d+))?\s+[\d.]+:/.exec(line);
      cur = { thread: m ? `${m[1].trim()}` : line.trim(), frames: [] };
      continue;
    }
    if (cur) cur.frames.push(line.trim().replace(/^[0-9a-f]+\s+/, ''));
  }
  if (cur) out.push(cur);
  return out;
}

/** Shares of samples by bucket and by thread name: { samples, buckets: [{ key, n, pct }], threads }. */
export function summarizePerf(samples) {
  const buckets = new Map();
  const threads = new Map();
  for (const s of samples) {
    const stack = s.frames.join('\n');
    const js = s.frames.findIndex((f) => JS_FRAME.test(f));
    const near = (js < 0 ? s.frames : s.frames.slice(0, js)).join('\n');
    const hit = PERF_BUCKETS.find(([, re, o]) => re.test(o?.leaf ? (s.frames[0] ?? '') : o?.near ? near : stack));
    const key = hit ? hit[0] : 'other';
    buckets.set(key, (buckets.get(key) ?? 0) + 1);
    threads.set(s.thread, (threads.get(s.thread) ?? 0) + 1);
  }
  const rows = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([key, n]) => ({ key, n, pct: Math.round((1000 * n) / Math.max(1, samples.length)) / 10 }));
  return { samples: samples.length, buckets: rows(buckets), threads: rows(threads) };
}
