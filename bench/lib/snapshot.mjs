// The tree the bench measures: a copy of the committed HEAD in <tmp>/clipyard-bench/tree-<commit>,
// with the repository's node_modules linked in (outside the repository, so no linter or test runner
// of the project ever sees the copy). wrangler dev watches its sources and reloads the Worker on
// every change, so measuring the live working tree (edited by others meanwhile) measures reloads.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './proc.mjs';

export function snapshotHead() {
  const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT }).toString().trim();
  const dir = path.join(os.tmpdir(), 'clipyard-bench', `tree-${commit.slice(0, 12)}`);
  if (!existsSync(path.join(dir, 'package.json'))) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const tar = execFileSync('git', ['archive', '--format=tar', commit], { cwd: ROOT, maxBuffer: 1 << 30 });
    execFileSync('tar', ['-x', '-C', dir], { input: tar });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  }
  const subject = execFileSync('git', ['log', '-1', '--format=%s', commit], { cwd: ROOT }).toString().trim();
  return { dir, commit, subject };
}
