/**
 * The profilers' summaries (scripts/profile-cpu.mjs): where a V8 CPU profile's time went by source
 * file and bucket, and workerd's perf samples by what is on the stack. A wrong attribution here sends
 * the engineers reading the notes after the wrong lever.
 */
import { describe, expect, it } from 'vitest';
import { type CpuProfile, fileOf, moduleMap, summarize } from '../../scripts/cpu-profile-summary.mjs';
import { parsePerfScript, summarizePerf } from '../../scripts/perf-summary.mjs';

const BUNDLE = [
  'var __name = (f) => f;', // 0: before any module comment
  '// src/objects/task-store.ts', // 1
  'function writePatch() {', // 2
  '  sql.exec("UPDATE tasks SET ...");', // 3
  '}',
  '// ../node_modules/hono/dist/context.js', // 5
  'function json() {}', // 6
  '// src/worker/routes/tasks.ts', // 7
  'async function post() {}', // 8
].join('\n');

const frame = (functionName: string, url = '', lineNumber = -1) => ({ functionName, url, lineNumber, columnNumber: 0 });

/** root -> post (tasks.ts) -> writePatch (task-store.ts) -> exec (native); plus idle and GC. */
const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 5, 6] },
    { id: 2, callFrame: frame('post', 'file:///x/index.js', 8), children: [3] },
    { id: 3, callFrame: frame('writePatch', 'file:///x/index.js', 2), children: [4] },
    { id: 4, callFrame: frame('exec') },
    { id: 5, callFrame: frame('(idle)') },
    { id: 6, callFrame: frame('(garbage collector)') },
  ],
  // each sample stands for the gap after it: 1 ms steps, the last one 0
  samples: [4, 4, 4, 3, 2, 5, 5, 6, 4],
  timeDeltas: [0, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
};

describe('cpu profile summary', () => {
  it("maps bundle lines to the module esbuild's comments name, node_modules paths shortened", () => {
    const map = moduleMap(BUNDLE);
    expect(fileOf(map, 0)).toBe('(bundle prelude)');
    expect(fileOf(map, 3)).toBe('src/objects/task-store.ts');
    expect(fileOf(map, 6)).toBe('node_modules/hono/dist/context.js');
    expect(fileOf(map, 8)).toBe('src/worker/routes/tasks.ts');
  });

  it('splits busy time into SQLite, GC and JS, charges native time to its JS caller, and leaves idle out', () => {
    const s = summarize(PROFILE, { bundle: BUNDLE });
    expect(s).toMatchObject({ totalMs: 8, idleMs: 2, busyMs: 6 });
    const bucket = Object.fromEntries(s.buckets.map((b) => [b.key, b.ms]));
    expect(bucket).toEqual({ 'sqlite exec': 3, javascript: 2, gc: 1 });
    const file = Object.fromEntries(s.files.map((b) => [b.key, b.ms]));
    expect(file['src/objects/task-store.ts']).toBe(1);
    expect(file['src/worker/routes/tasks.ts']).toBe(1);
    expect(s.nativeCallers[0]).toMatchObject({ key: 'exec <- writePatch src/objects/task-store.ts', ms: 3, pct: 50 });
  });
});

const PERF = `workerd 100 1.000: 1001001 cpu-clock:ppp:
\t 1 ext4_sync_file+0x1 ([kernel.kallsyms])
\t 2 do_fsync+0x1 ([kernel.kallsyms])
\t 3 fsync+0x1 (/usr/lib/libc.so.6)
\t 4 sqlite3PagerCommitPhaseOne+0x1 (/bin/workerd)

workerd 100 1.001: 1001001 cpu-clock:ppp:
\t 1 yy_reduce+0x1 (/bin/workerd)
\t 2 sqlite3_prepare_v3+0x1 (/bin/workerd)
\t 3 workerd::api::SqlStorage::exec+0x1 (/bin/workerd)

workerd 100 1.002: 1001001 cpu-clock:ppp:
\t 1 workerd::jsg::Serializer::write+0x1 (/bin/workerd)
\t 2 Builtins_CallApiCallbackGeneric+0x1 (/bin/workerd)
\t 3 workerd::api::JsRpcTargetBase::invokeFn+0x1 (/bin/workerd)

workerd 100 1.003: 1001001 cpu-clock:ppp:
\t 1 Builtins_InterpreterEntryTrampoline+0x1 (/bin/workerd)
\t 2 workerd::api::JsRpcTargetBase::invokeFn+0x1 (/bin/workerd)

V8 DefaultWorke 101 1.004: 1001001 cpu-clock:ppp:
\t 1 v8::internal::MarkCompactCollector::Mark+0x1 (/bin/workerd)
`;

describe('perf summary', () => {
  it('sorts samples by what is on the stack; JS run by an RPC callee is JS, not RPC', () => {
    const s = summarizePerf(parsePerfScript(PERF));
    expect(s.samples).toBe(5);
    expect(Object.fromEntries(s.buckets.map((b) => [b.key, b.n]))).toEqual({
      'fsync (kernel)': 1,
      'sqlite: statement compile': 1,
      'rpc (JS RPC calls, structured clone)': 1,
      'javascript: V8 executing (leaf in V8 or JIT code)': 1,
      gc: 1,
    });
    expect(s.threads).toEqual([
      { key: 'workerd', n: 4, pct: 80 },
      { key: 'V8 DefaultWorke', n: 1, pct: 20 },
    ]);
  });
});
