// How the local engine syncs workerd's SQLite state to disk (CLIPYARD_SQLITE_SYNC): `everysec` (the
// default when Debian's libeatmydata is installed: no fsync per commit, the state's filesystem synced
// once a second) or `always` (workerd's own fsync at every commit). Read by scripts/local-engine.mjs,
// which applies it, and by bench/systems/clipyard.mjs, which names it in the report.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';

export const SYNC_MODES = ['everysec', 'always'];

/** Debian's libeatmydata (package eatmydata): preloaded into a process, it makes fsync and friends no-ops. */
export const EAT_MY_DATA = [
  '/usr/lib/x86_64-linux-gnu/libeatmydata.so',
  '/usr/lib/aarch64-linux-gnu/libeatmydata.so',
  '/usr/lib/libeatmydata.so',
].find((f) => existsSync(f));

/** The mode asked for in `env`, or the default; throws on a mode this machine cannot run. */
export function sqliteSyncMode(env = process.env) {
  const mode = env.CLIPYARD_SQLITE_SYNC || (EAT_MY_DATA ? 'everysec' : 'always');
  if (!SYNC_MODES.includes(mode)) throw new Error(`CLIPYARD_SQLITE_SYNC: everysec or always, not ${mode}`);
  if (mode === 'everysec' && !EAT_MY_DATA) {
    throw new Error('CLIPYARD_SQLITE_SYNC=everysec needs libeatmydata (apt-get install eatmydata)');
  }
  return mode;
}

/**
 * `find` arguments for what one pass syncs: the files under `root` changed since `sinceMs` (ms since
 * the epoch), but not SQLite's `-shm` files (the WAL index, rebuilt when a database opens), and the
 * directories changed since then (a new object's database is a new entry in one).
 */
export function changedArgs(root, sinceMs) {
  const since = `@${(sinceMs / 1_000).toFixed(3)}`;
  return [root, '(', '-type', 'f', '!', '-name', '*-shm', '-o', '-type', 'd', ')', '-newermt', since];
}

/** The paths one pass would sync now (for tests and for a look by hand). */
export function changedPaths(root, sinceMs) {
  const out = spawnSync('find', [...changedArgs(root, sinceMs), '-print0'], { encoding: 'utf8' });
  return out.stdout.split('\0').filter(Boolean);
}

/**
 * `everysec`: once every `everyMs`, fdatasync what changed under `root` since the last pass that
 * finished began (less `marginMs`, for timestamps coarser than the clock), never two passes at once.
 * The first pass syncs the whole filesystem (`sync -f`), for what a predecessor that crashed left
 * unwritten. A per-file pass costs a `find` over the state's files and one fdatasync per changed file;
 * `sync -f` on every pass wrote back the whole filesystem each second, which a busy engine kept dirty:
 * at 10,000 tasks one such sync ran for most of two minutes and used nearly a core (bench/NOTES.md).
 * A per-file pass that runs past `maxPassMs` is stopped and `log` says so: the next pass starts from
 * the same time, so what it had not reached yet is synced then. `syncBin` is coreutils' sync (a test
 * gives a recorder). Returns `stop()`.
 */
export function startSyncLoop(
  root,
  { everyMs = 1_000, maxPassMs = 5_000, marginMs = 1_000, log = () => {}, syncBin = 'sync' } = {},
) {
  let sinceMs = null;
  let pass = null;
  let lastWarnMs = 0;
  const tick = () => {
    const now = Date.now();
    if (pass) {
      if (!pass.whole && !pass.stopped && now - pass.startedMs > maxPassMs) {
        pass.stopped = true;
        try {
          process.kill(-pass.proc.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
        if (now - lastWarnMs > 60_000) {
          lastWarnMs = now;
          log(
            `state sync: a pass ran past ${maxPassMs} ms and was stopped; the next one starts over from the same time`,
          );
        }
      }
      return;
    }
    mkdirSync(root, { recursive: true });
    const whole = sinceMs === null;
    const proc = whole
      ? spawn(syncBin, ['-f', root], { stdio: 'ignore', detached: true })
      : spawn(
          'sh',
          [
            '-c',
            'b=$1; shift; find "$@" -print0 | xargs -0 -r "$b" -d --',
            'sh',
            syncBin,
            ...changedArgs(root, sinceMs),
          ],
          {
            stdio: 'ignore',
            detached: true,
          },
        );
    const current = { proc, whole, startedMs: now, stopped: false };
    pass = current;
    const done = (ok) => {
      if (pass !== current) return;
      pass = null;
      // a pass stopped or failed before its end leaves `sinceMs` where it was: the next covers it all
      if (ok && !current.stopped) sinceMs = current.startedMs - marginMs;
    };
    // sync -d exits 1 for a file deleted between find and sync: the others were synced all the same
    proc.once('exit', (code) => done(code === 0 || (!whole && code === 123)));
    proc.once('error', () => done(false));
  };
  const timer = setInterval(tick, everyMs);
  return {
    stop() {
      clearInterval(timer);
      if (pass && !pass.whole) {
        try {
          process.kill(-pass.proc.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    },
  };
}
