#!/usr/bin/env node
// The `clipyard` command (package.json "bin"): runs src/cli/main.ts on Node's native TypeScript
// support. A Node too old for that (the system Node 20 on some machines) hands over to the Node 24
// that `npm install` puts in node_modules/.bin, when there is one.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [major, minor] = process.versions.node.split('.').map(Number);
const stripsTypes = major > 23 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18);

if (!stripsTypes) {
  const node24 = path.join(root, 'node_modules', '.bin', 'node');
  if (!existsSync(node24) || process.env.CLIPYARD_CLI_REEXEC) {
    process.stderr.write(`clipyard: needs Node 22.18 or newer (this is ${process.version}); run npm install first\n`);
    process.exit(2);
  }
  const result = spawnSync(node24, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, CLIPYARD_CLI_REEXEC: '1' },
  });
  process.exit(result.status ?? 1);
}

const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2), process.env, {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
});
// Let buffered output reach a pipe before leaving (keep-alive sockets would otherwise hold the process).
process.stdout.write('', () => process.exit(code));
