// The tree the bench measures: a copy of the committed HEAD in <tmp>/clipyard-bench/tree-<commit>,
// with the repository's node_modules linked in (outside the repository, so no linter or test runner
// of the project ever sees the copy). wrangler dev watches its sources and reloads the Worker on
// every change, so measuring the live working tree (edited by others meanwhile) measures reloads.
//
// A tree left by an earlier run may come from another clone whose node_modules is gone (a dangling
// link made wrangler dev exit with code 1): the link is checked and re-made on every run. The tree
// also gets the bench's metered entry (lib/metered-entry.js) and a wrangler.metered.toml that runs it.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH, ROOT } from './proc.mjs';

/** Make `dir/node_modules` a link to this repository's node_modules, whatever was there before. */
function linkNodeModules(dir) {
  const link = path.join(dir, 'node_modules');
  const want = path.join(ROOT, 'node_modules');
  let ok = false;
  try {
    ok = lstatSync(link).isSymbolicLink() && existsSync(path.join(link, '.bin', 'wrangler'));
    ok &&= path.resolve(dir, execFileSync('readlink', [link]).toString().trim()) === want;
  } catch {
    ok = false;
  }
  if (ok) return;
  rmSync(link, { recursive: true, force: true });
  symlinkSync(want, link, 'dir');
}

export function snapshotHead(ref = 'HEAD') {
  const commit = execFileSync('git', ['rev-parse', ref], { cwd: ROOT }).toString().trim();
  const dir = path.join(os.tmpdir(), 'clipyard-bench', `tree-${commit.slice(0, 12)}`);
  if (!existsSync(path.join(dir, 'package.json'))) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const tar = execFileSync('git', ['archive', '--format=tar', commit], { cwd: ROOT, maxBuffer: 1 << 30 });
    execFileSync('tar', ['-x', '-C', dir], { input: tar });
  }
  linkNodeModules(dir);
  mkdirSync(path.join(dir, 'bench', 'lib'), { recursive: true });
  copyFileSync(path.join(BENCH, 'lib', 'metered-entry.js'), path.join(dir, 'bench', 'lib', 'metered-entry.js'));
  const toml = readFileSync(path.join(dir, 'wrangler.toml'), 'utf8');
  writeFileSync(
    path.join(dir, 'wrangler.metered.toml'),
    toml.replace(/^main = .*$/m, 'main = "bench/lib/metered-entry.js"'),
  );
  const subject = execFileSync('git', ['log', '-1', '--format=%s', commit], { cwd: ROOT }).toString().trim();
  return { dir, commit, subject };
}
