// How the local engine syncs workerd's SQLite state to disk (CLIPYARD_SQLITE_SYNC): `everysec` (the
// default when Debian's libeatmydata is installed: no fsync per commit, the state's filesystem synced
// once a second) or `always` (workerd's own fsync at every commit). Read by scripts/local-engine.mjs,
// which applies it, and by bench/systems/clipyard.mjs, which names it in the report.
import { existsSync } from 'node:fs';

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
