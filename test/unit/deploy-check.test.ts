/**
 * `npm run deploy:check` passes on this tree: the types match wrangler.toml, the dry-run deploy
 * bundles the Worker with its bindings and container, under the size limit. (No account or Docker
 * engine is needed; see scripts/deploy-check.mjs.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

it('the deploy dry run succeeds', { timeout: 300_000 }, () => {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-deploy-check-'));
  try {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/deploy-check.mjs')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, DEPLOY_CHECK_OUTDIR: outdir },
      timeout: 280_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('deploy check passed');
    expect(existsSync(path.join(outdir, 'index.js'))).toBe(true);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
});
