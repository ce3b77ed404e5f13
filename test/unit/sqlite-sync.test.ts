/**
 * The local engine's once-a-second state sync (scripts/sqlite-sync.mjs): each pass fdatasyncs what
 * changed since the last finished pass began, the first one syncs the whole filesystem, and a pass
 * that runs too long is stopped, said so, and covered again by the next. `sync` is replaced by a
 * recorder that writes its arguments to a file (and, to be stopped, sleeps).
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { changedPaths, startSyncLoop } from '../../scripts/sqlite-sync.mjs';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'clipyard-sync-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fake `sync` that appends one line per call ("-d -- a b") to `log`, after `sleep` seconds. */
function recorder(dir: string, sleep = 0): { bin: string; calls: () => string[] } {
  const log = path.join(dir, 'calls.log');
  const bin = path.join(dir, 'fake-sync');
  writeFileSync(bin, `#!/bin/sh\nsleep ${sleep}\necho "$*" >> '${log}'\n`);
  chmodSync(bin, 0o755);
  return {
    bin,
    calls: () => {
      try {
        return readFileSync(log, 'utf8').split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
  };
}

const until = async (what: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('what a pass syncs', () => {
  it('lists files and directories changed since a time, never -shm files', () => {
    const root = tempDir();
    const old = Date.now() / 1_000 - 3_600;
    mkdirSync(path.join(root, 'do', 'TaskObject'), { recursive: true });
    writeFileSync(path.join(root, 'do', 'TaskObject', 'stale.sqlite'), 'x');
    utimesSync(path.join(root, 'do', 'TaskObject', 'stale.sqlite'), old, old);
    utimesSync(path.join(root, 'do', 'TaskObject'), old, old);
    utimesSync(path.join(root, 'do'), old, old);
    utimesSync(root, old, old);
    const since = Date.now() - 1_000;
    writeFileSync(path.join(root, 'do', 'TaskObject', 'stale.sqlite-shm'), 'x');
    writeFileSync(path.join(root, 'do', 'TaskObject', 'fresh.sqlite-wal'), 'x');
    const listed = changedPaths(root, since).map((p: string) => path.relative(root, p));
    expect(listed.sort()).toEqual(['do/TaskObject', 'do/TaskObject/fresh.sqlite-wal']);
  });
});

describe('the sync loop', () => {
  it('syncs the filesystem first, then only what changed since the last pass began', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'state');
    mkdirSync(root);
    const fake = recorder(dir);
    const loop = startSyncLoop(root, { everyMs: 50, marginMs: 0, syncBin: fake.bin });
    try {
      await until(() => fake.calls().length >= 1);
      expect(fake.calls()[0]).toBe(`-f ${root}`);
      await new Promise((r) => setTimeout(r, 300));
      // nothing changed after the first pass began: no further call (xargs -r runs no sync for no file)
      expect(fake.calls()).toHaveLength(1);
      writeFileSync(path.join(root, 'a.sqlite'), 'x');
      await until(() => fake.calls().some((c) => c.includes('a.sqlite')));
      const call = fake.calls().find((c) => c.includes('a.sqlite'));
      expect(call).toMatch(/^-d -- /);
      // the pass after the one that found it may list it again (it began before the write), no later one
      await new Promise((r) => setTimeout(r, 400));
      const before = fake.calls().length;
      await new Promise((r) => setTimeout(r, 400));
      expect(
        fake
          .calls()
          .slice(before)
          .some((c) => c.includes('a.sqlite')),
      ).toBe(false);
    } finally {
      loop.stop();
    }
  });

  it('stops a pass that runs too long and says so', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'state');
    mkdirSync(root);
    const quick = recorder(dir);
    const lines: string[] = [];
    const first = startSyncLoop(root, { everyMs: 50, marginMs: 0, syncBin: quick.bin });
    await until(() => quick.calls().length >= 1);
    first.stop();
    // a loop whose sync hangs: its first (whole) pass is waited for, its per-file passes are stopped
    const slowDir = path.join(dir, 'slow');
    mkdirSync(slowDir);
    const slow = recorder(slowDir, 3);
    const loop = startSyncLoop(root, {
      everyMs: 50,
      maxPassMs: 200,
      marginMs: 0,
      syncBin: slow.bin,
      log: (l: string) => lines.push(l),
    });
    try {
      await until(() => slow.calls().length >= 1);
      writeFileSync(path.join(root, 'b.sqlite'), 'x');
      await until(() => lines.length > 0);
      expect(lines[0]).toMatch(/ran past 200 ms and was stopped/);
      // the stopped pass never recorded b.sqlite (it was killed asleep), and neither will its successors
      expect(slow.calls().some((c) => c.includes('b.sqlite'))).toBe(false);
    } finally {
      loop.stop();
    }
  });
});
